//! berth-api's `ServeSettings` (what the operator writes) read back by berth-serve's
//! command line gives the same values: the two sides of the contract cannot drift.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure by design

use std::time::Duration;

use berth_api::{
    BertModelRef, KubeDuration, LogFormat, Normalize, Pooling, ServeSettings, ServingSpec, Task, Truncation,
};
use berth_serve::cli::Args;
use berth_serve::server::Source;
use clap::Parser;
use proptest::prelude::*;

fn parse(settings: &ServeSettings) -> Args {
    let argv = std::iter::once("berth-serve".to_string()).chain(settings.to_args());
    Args::try_parse_from(argv).unwrap_or_else(|e| panic!("{:?}: {e}", settings.to_args()))
}

fn assert_same(settings: &ServeSettings) {
    let args = parse(settings);
    assert_eq!(args.model_name, settings.model_name);
    assert_eq!(args.model_base_path.to_string_lossy(), settings.model_base_path);
    assert_eq!((args.rest_api_port, args.port), (settings.rest_api_port, settings.grpc_port));
    let bertmodel =
        args.bertmodel_name.clone().map(|name| BertModelRef { name, namespace: args.bertmodel_namespace.clone() });
    assert_eq!(bertmodel, settings.bertmodel);
    assert_eq!(args.max_batch_size, settings.max_batch_size as usize);
    assert_eq!(args.max_batch_tokens, settings.max_batch_tokens as usize);
    assert_eq!(args.max_batch_delay, settings.max_batch_delay);
    assert_eq!(args.max_sequence_length, settings.max_sequence_length as usize);
    assert_eq!(args.threads, settings.threads.map(|t| t as usize));
    assert_eq!(args.sessions, settings.sessions as usize);
    assert_eq!(args.queue_capacity, settings.queue_capacity as usize);
    assert_eq!(args.truncation, settings.truncation);
    assert_eq!(args.normalize, settings.normalize);
    assert_eq!(args.pooling, settings.pooling);
    assert_eq!(args.task, settings.task);
    assert_eq!(Duration::from_secs_f64(args.drain_timeout_seconds), settings.drain_timeout.as_duration());
    assert_eq!(args.log_format, settings.log_format);

    // And what the server runs with.
    let options = args.into_options().unwrap();
    assert_eq!(options.serving.max_batch_delay, settings.max_batch_delay.as_duration());
    assert_eq!(options.serving.drain_timeout, settings.drain_timeout.as_duration());
    assert_eq!(options.serving.expected_task, settings.task);
    assert_eq!(matches!(options.source, Source::Controlled(_)), settings.bertmodel.is_some());
}

#[test]
fn the_operators_settings_round_trip() {
    let serving = ServingSpec { normalize: Some(true), pooling: Pooling::Cls, ..ServingSpec::default() };
    assert_same(&ServeSettings {
        bertmodel: Some(BertModelRef { name: "sentiment".into(), namespace: "ml".into() }),
        task: Some(Task::Classification),
        log_format: LogFormat::Json,
        ..ServeSettings::new("sentiment", "/models/sentiment", &serving)
    });
    assert_same(&ServeSettings { threads: None, ..ServeSettings::new("m", "/m", &ServingSpec::default()) });
}

fn settings() -> impl Strategy<Value = ServeSettings> {
    let names = ("[a-z][a-z0-9-]{0,20}", "/[a-z0-9/]{1,20}", prop::option::of(("[a-z]{1,8}", "[a-z]{1,8}")));
    let batching = (1u32..=1024, 0u32..=1_048_576, 0u64..10_000_000, 8u32..=8192);
    let workers = (prop::option::of(1u32..=256), 1u32..=64, 1u32..=100_000, 0u64..3_600_000);
    let enums = (
        prop::sample::select(vec![Truncation::Truncate, Truncation::Reject]),
        prop::sample::select(vec![Normalize::Auto, Normalize::Always, Normalize::Never]),
        prop::sample::select(vec![Pooling::Auto, Pooling::Mean, Pooling::Cls]),
        prop::option::of(prop::sample::select(vec![Task::Embedding, Task::Classification])),
        prop::sample::select(vec![LogFormat::Text, LogFormat::Json]),
    );
    (names, batching, workers, enums, any::<(u16, u16)>()).prop_map(
        |(
            (name, base, bertmodel),
            (size, tokens, delay_us, seq),
            (threads, sessions, queue, drain_ms),
            enums,
            ports,
        )| {
            let (truncation, normalize, pooling, task, log_format) = enums;
            ServeSettings {
                model_name: name,
                model_base_path: base,
                rest_api_port: ports.0,
                grpc_port: ports.1,
                bertmodel: bertmodel.map(|(name, namespace)| BertModelRef { name, namespace }),
                max_batch_size: size,
                max_batch_tokens: tokens,
                // The flag is written in whole microseconds.
                max_batch_delay: KubeDuration(Duration::from_micros(delay_us)),
                max_sequence_length: seq,
                threads,
                sessions,
                queue_capacity: queue,
                truncation,
                normalize,
                pooling,
                task,
                drain_timeout: KubeDuration::from_millis(drain_ms),
                log_format,
            }
        },
    )
}

proptest! {
    #[test]
    fn any_settings_round_trip(settings in settings()) {
        assert_same(&settings);
    }
}

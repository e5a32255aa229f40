//! tonic answers a message over `max_decoding_message_size` with OUT_OF_RANGE. gRPC's own
//! servers (and so Triton and TF Serving, whose clients Berth serves) answer
//! RESOURCE_EXHAUSTED, the code clients treat as "too much, do not retry as is". This layer
//! rewrites that one status on the way out and names the server flag that sets the limit.

use http::Response;
use tonic::{Code, Status};

/// tonic's wording in `codec/decode.rs`; anything else with OUT_OF_RANGE is left alone.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";

/// Layer for `tonic::transport::Server::builder().layer(..)`.
pub fn layer<B>() -> tower::util::MapResponseLayer<fn(Response<B>) -> Response<B>> {
    tower::util::MapResponseLayer::new(oversize_is_resource_exhausted::<B>)
}

/// A decode failure is a trailers-only response: the status lives in the headers.
fn oversize_is_resource_exhausted<B>(mut response: Response<B>) -> Response<B> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    if status.code() != Code::OutOfRange || !status.message().starts_with(TONIC_TOO_LARGE) {
        return response;
    }
    let detail = status.message().trim_start_matches(TONIC_TOO_LARGE).trim_start_matches(':').trim();
    let rewritten = Status::resource_exhausted(format!(
        "request message too large ({detail}); the server's --max_request_bytes sets the limit"
    ));
    // Only fails for a message that cannot be percent-encoded, which ours always can.
    if rewritten.add_header(response.headers_mut()).is_err() {
        tracing::warn!("could not rewrite the gRPC status of an oversize message");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailers_only(status: &Status) -> Response<()> {
        let mut response = Response::new(());
        status.add_header(response.headers_mut()).unwrap();
        response
    }

    #[test]
    fn oversize_becomes_resource_exhausted_with_the_sizes() {
        let tonic = Status::out_of_range(format!("{TONIC_TOO_LARGE}: found 200 bytes, the limit is: 100 bytes"));
        let out = Status::from_header_map(oversize_is_resource_exhausted(trailers_only(&tonic)).headers()).unwrap();
        assert_eq!(out.code(), Code::ResourceExhausted);
        assert!(out.message().contains("found 200 bytes, the limit is: 100 bytes"), "{}", out.message());
        assert!(out.message().contains("--max_request_bytes"), "{}", out.message());
    }

    #[test]
    fn other_statuses_pass_unchanged() {
        for status in [Status::out_of_range("token id 5 out of range"), Status::invalid_argument(TONIC_TOO_LARGE)] {
            let out =
                Status::from_header_map(oversize_is_resource_exhausted(trailers_only(&status)).headers()).unwrap();
            assert_eq!((out.code(), out.message()), (status.code(), status.message()));
        }
        let ok = oversize_is_resource_exhausted(Response::new(()));
        assert!(ok.headers().is_empty());
    }
}

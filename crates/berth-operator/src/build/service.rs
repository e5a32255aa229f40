//! The Service in front of a model's pods: REST (`http`, 8501) and gRPC (`grpc`, 8500),
//! the ports TF Serving clients expect.

use berth_api::BertModel;
use berth_api::labels::selector_labels;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::{BuildError, child_meta};

pub const HTTP_PORT: i32 = 8501;
pub const GRPC_PORT: i32 = 8500;

pub fn service(model: &BertModel) -> Result<Service, BuildError> {
    let name = model.name_any();
    let port = |port_name: &str, port: i32, app_protocol: &str| ServicePort {
        name: Some(port_name.to_string()),
        port,
        target_port: Some(IntOrString::String(port_name.to_string())),
        protocol: Some("TCP".into()),
        app_protocol: Some(app_protocol.to_string()),
        ..ServicePort::default()
    };
    Ok(Service {
        metadata: child_meta(model, name.clone())?,
        spec: Some(ServiceSpec {
            selector: Some(selector_labels(&name)),
            ports: Some(vec![port("http", HTTP_PORT, "http"), port("grpc", GRPC_PORT, "grpc")]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::testing::{SENTIMENT, model};

    #[test]
    fn http_and_grpc_by_name() {
        let svc = service(&model(SENTIMENT)).unwrap_or_default();
        let spec = svc.spec.unwrap_or_default();
        let ports = spec.ports.unwrap_or_default();
        assert_eq!(
            ports.iter().map(|p| (p.name.as_deref(), p.port)).collect::<Vec<_>>(),
            [(Some("http"), 8501), (Some("grpc"), 8500)]
        );
        assert_eq!(spec.selector, Some(selector_labels("sentiment")));
        let owners = svc.metadata.owner_references.unwrap_or_default();
        assert_eq!(owners[0].controller, Some(true));
        assert_eq!(owners[0].kind, "BertModel");
    }
}

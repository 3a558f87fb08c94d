//! Conversions between the Tasks gRPC types (prost) and the shim task API
//! types (rust-protobuf). An `Any` passes through as type url and bytes.

use crated_api::prost_types::{Any, Timestamp};
use crated_api::ttrpc::api;
use crated_api::ttrpc::protobuf::well_known_types::{
    any::Any as PbAny, timestamp::Timestamp as PbTimestamp,
};
use crated_api::types::Mount;
use crated_api::types::v1::{Process, ProcessInfo, Status};

/// prost `Any` to rust-protobuf.
pub fn any_to_shim(a: &Any) -> PbAny {
    let mut out = PbAny::new();
    out.type_url = a.type_url.clone();
    out.value = a.value.clone();
    out
}

/// rust-protobuf `Any` to prost.
pub fn any_from_shim(a: &PbAny) -> Any {
    Any {
        type_url: a.type_url.clone(),
        value: a.value.clone(),
    }
}

/// rust-protobuf time to prost.
pub fn time_from_shim(t: Option<&PbTimestamp>) -> Option<Timestamp> {
    t.map(|t| Timestamp {
        seconds: t.seconds,
        nanos: t.nanos,
    })
}

/// A wire mount to the shim's mount type.
pub fn mount_to_shim(m: &Mount) -> api::Mount {
    let mut out = api::Mount::new();
    out.type_ = m.r#type.clone();
    out.source = m.source.clone();
    out.target = m.target.clone();
    out.options = m.options.clone();
    out
}

/// The shim's task status to the wire enum.
pub fn status_from_shim(s: api::Status) -> Status {
    match s {
        api::Status::CREATED => Status::Created,
        api::Status::RUNNING => Status::Running,
        api::Status::STOPPED => Status::Stopped,
        api::Status::PAUSED => Status::Paused,
        api::Status::PAUSING => Status::Pausing,
        _ => Status::Unknown,
    }
}

/// A shim state answer as the wire `Process`.
pub fn process_from_state(container_id: &str, s: &api::StateResponse) -> Process {
    Process {
        container_id: container_id.to_string(),
        id: s.id.clone(),
        pid: s.pid,
        status: status_from_shim(s.status.enum_value_or_default()) as i32,
        stdin: s.stdin.clone(),
        stdout: s.stdout.clone(),
        stderr: s.stderr.clone(),
        terminal: s.terminal,
        exit_status: s.exit_status,
        exited_at: time_from_shim(s.exited_at.as_ref()),
    }
}

/// A shim process entry as the wire `ProcessInfo`.
pub fn process_info_from_shim(p: &api::ProcessInfo) -> ProcessInfo {
    ProcessInfo {
        pid: p.pid,
        info: p.info.as_ref().map(any_from_shim),
    }
}

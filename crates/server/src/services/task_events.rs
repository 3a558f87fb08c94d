//! Task events the daemon publishes itself (shims publish the rest).

use std::time::Duration;

use crated_api::events::{TaskDelete, TaskExit};
use crated_api::prost::{Message, Name};
use crated_api::prost_types::Any;
use crated_runtime::{DeadTask, Recovery};

use super::task_convert::time_from_shim;
use crate::exchange::Exchange;

/// How long exits found on recovery wait for a first subscriber.
const RECOVERED_HOLD: Duration = Duration::from_secs(60);

fn any_of<M: Message + Name>(message: &M) -> Any {
    Any {
        type_url: M::full_name(),
        value: message.encode_to_vec(),
    }
}

fn exit_event(task: &DeadTask) -> (String, String, Any) {
    let exit = TaskExit {
        container_id: task.id.clone(),
        id: task.id.clone(),
        pid: task.exit.pid,
        exit_status: task.exit.exit_status,
        exited_at: time_from_shim(task.exit.exited_at.as_ref()),
    };
    (task.namespace.clone(), "/tasks/exit".into(), any_of(&exit))
}

fn delete_event(task: &DeadTask) -> (String, String, Any) {
    let delete = TaskDelete {
        container_id: task.id.clone(),
        pid: task.exit.pid,
        exit_status: task.exit.exit_status,
        exited_at: time_from_shim(task.exit.exited_at.as_ref()),
        id: String::new(),
    };
    (
        task.namespace.clone(),
        "/tasks/delete".into(),
        any_of(&delete),
    )
}

/// Publishes what a restart found, as containerd does on recovery:
/// `/tasks/exit` and `/tasks/delete` for each task whose shim died while
/// the daemon was away, `/tasks/exit` for each live task whose init exited
/// meanwhile. They are held until a client subscribes (at most
/// `RECOVERED_HOLD`), since the daemon does not serve yet. An exit that
/// was published before the daemon went down may be published again.
pub fn publish_recovered(events: &Exchange, recovery: Recovery) {
    let mut out = Vec::new();
    for task in &recovery.dead {
        out.push(exit_event(task));
        out.push(delete_event(task));
    }
    out.extend(recovery.exited.iter().map(exit_event));
    events.publish_when_subscribed(out, RECOVERED_HOLD);
}

/// Publishes `/tasks/exit` and `/tasks/delete` for a task whose shim died
/// while the daemon ran (the manager already cleaned it up), as containerd
/// does after a dead shim.
pub fn publish_dead(events: &Exchange, task: &DeadTask) {
    for (ns, topic, event) in [exit_event(task), delete_event(task)] {
        if let Err(e) = events.publish(&ns, &topic, event) {
            tracing::warn!(namespace = %ns, id = %task.id, %topic, error = %e, "publishing the exit of a dead shim");
        }
    }
}

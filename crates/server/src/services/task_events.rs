//! Task events the daemon publishes itself (shims publish the rest).

use crated_api::events::{TaskDelete, TaskExit};
use crated_runtime::DeadTask;

use super::task_convert::time_from_shim;
use crate::exchange::Exchange;

/// Publishes `/tasks/exit` and `/tasks/delete` for a task whose shim died
/// while the daemon was away, as containerd does on recovery.
pub fn publish_dead(events: &Exchange, task: &DeadTask) {
    let exited_at = time_from_shim(task.exit.exited_at.as_ref());
    let exit = TaskExit {
        container_id: task.id.clone(),
        id: task.id.clone(),
        pid: task.exit.pid,
        exit_status: task.exit.exit_status,
        exited_at,
    };
    events.publish_message(&task.namespace, "/tasks/exit", &exit);
    let delete = TaskDelete {
        container_id: task.id.clone(),
        pid: task.exit.pid,
        exit_status: task.exit.exit_status,
        exited_at,
        id: String::new(),
    };
    events.publish_message(&task.namespace, "/tasks/delete", &delete);
}

//! Error messages that say what to do next.

use crated_client::{Error, ErrorKind};

use crate::context::Context;

/// Turns a client error into one for the user: a "not found" gets a hint
/// naming the command that lists what exists.
pub fn not_found(err: Error, list_command: &str, what: &str) -> anyhow::Error {
    if err.is_not_found() {
        anyhow::anyhow!("{err} (run \"{list_command}\" to see {what})")
    } else {
        err.into()
    }
}

/// An error about container `id`'s task, with a hint: a missing container
/// or task names the command that lists them; a task in the wrong state
/// names what to do.
pub fn task_error(ctx: &Context, err: Error, id: &str) -> anyhow::Error {
    match err.kind() {
        ErrorKind::NotFound => anyhow::anyhow!(
            "{err} (run \"{}\" to see tasks and \"{}\" to see containers)",
            ctx.command_line("tasks ls"),
            ctx.command_line("containers ls")
        ),
        ErrorKind::AlreadyExists => anyhow::anyhow!(
            "{err} (the task of {id} exists; delete it with \"{}\" once it stopped)",
            ctx.command_line(&format!("tasks rm {id}"))
        ),
        ErrorKind::FailedPrecondition => anyhow::anyhow!(
            "{err} (see the task's state with \"{}\")",
            ctx.command_line("tasks ls")
        ),
        _ => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_only_for_not_found() {
        let err = Error::Daemon(crated_core::Error::not_found("namespace \"foo\""));
        assert_eq!(
            not_found(err, "cratectl namespaces ls", "namespaces").to_string(),
            "namespace \"foo\": not found (run \"cratectl namespaces ls\" to see namespaces)"
        );
        let err = Error::InvalidArgument("bad".into());
        assert_eq!(not_found(err, "x", "y").to_string(), "bad");
    }
}

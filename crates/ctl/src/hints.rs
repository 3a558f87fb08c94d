//! Error messages that say what to do next.

use crated_client::Error;

/// Turns a client error into one for the user: a "not found" gets a hint
/// naming the command that lists what exists.
pub fn not_found(err: Error, list_command: &str, what: &str) -> anyhow::Error {
    if err.is_not_found() {
        anyhow::anyhow!("{err} (run \"{list_command}\" to see {what})")
    } else {
        err.into()
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

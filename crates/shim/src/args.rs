//! The shim's command line, in the syntax of Go's `flag` package that
//! containerd uses: `-namespace ns -id id -address addr [-debug] start`.
//!
//! A flag is `-name value`, `-name=value` or the same with `--`; boolean
//! flags take no value unless written `-debug=false`. Flags end at the first
//! argument that is not one, which is the action (`start` or `delete`; none
//! means serve).

use std::path::PathBuf;

/// Everything containerd passes on the command line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    /// `-namespace`: the namespace that owns the shim.
    pub namespace: String,
    /// `-id`: the id of the task.
    pub id: String,
    /// `-address`: containerd's gRPC socket.
    pub address: String,
    /// `-publish-binary`: the binary whose `publish` command forwards events.
    pub publish_binary: String,
    /// `-bundle`: the bundle, if not the working directory.
    pub bundle: Option<PathBuf>,
    /// `-socket`: serve on this socket path instead of an inherited listener.
    pub socket: Option<String>,
    /// `-debug`: log at debug level.
    pub debug: bool,
    /// `-v`: print the version and exit.
    pub version: bool,
    /// The action: `start`, `delete`, or `None` to serve.
    pub action: Option<String>,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut out = Args {
        publish_binary: "containerd".to_string(),
        ..Args::default()
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix('-') else {
            out.action = Some(arg);
            break;
        };
        let flag = flag.strip_prefix('-').unwrap_or(flag);
        if flag.is_empty() {
            // `--` ends the flags; the next argument is the action.
            out.action = args.next();
            break;
        }
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        match name {
            "debug" | "v" => {
                let on = match inline.as_deref() {
                    None | Some("true") | Some("1") | Some("t") | Some("T") | Some("TRUE") => true,
                    Some("false") | Some("0") | Some("f") | Some("F") | Some("FALSE") => false,
                    Some(other) => {
                        return Err(format!("invalid boolean value {other:?} for -{name}"));
                    }
                };
                if name == "debug" {
                    out.debug = on;
                } else {
                    out.version = on;
                }
            }
            "namespace" | "id" | "address" | "publish-binary" | "bundle" | "socket" => {
                let value = match inline {
                    Some(v) => v,
                    None => args
                        .next()
                        .ok_or_else(|| format!("flag needs an argument: -{name}"))?,
                };
                match name {
                    "namespace" => out.namespace = value,
                    "id" => out.id = value,
                    "address" => out.address = value,
                    "publish-binary" => out.publish_binary = value,
                    "bundle" => out.bundle = Some(PathBuf::from(value)),
                    _ => out.socket = Some(value),
                }
            }
            other => return Err(format!("flag provided but not defined: -{other}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Args {
        parse(s.split_whitespace().map(String::from)).unwrap()
    }

    #[test]
    fn containerd_start_invocation() {
        let a = p(
            "-namespace default -address /run/c.sock -publish-binary /usr/bin/containerd -id t1 -debug start",
        );
        assert_eq!(a.namespace, "default");
        assert_eq!(a.address, "/run/c.sock");
        assert_eq!(a.publish_binary, "/usr/bin/containerd");
        assert_eq!(a.id, "t1");
        assert!(a.debug);
        assert_eq!(a.action.as_deref(), Some("start"));
    }

    #[test]
    fn equals_and_double_dash_forms() {
        let a = p("--namespace=k8s.io -id=x -bundle /b -debug=false delete");
        assert_eq!(a.namespace, "k8s.io");
        assert_eq!(a.id, "x");
        assert_eq!(a.bundle, Some(PathBuf::from("/b")));
        assert!(!a.debug);
        assert_eq!(a.action.as_deref(), Some("delete"));
    }

    #[test]
    fn no_action_means_serve_and_default_publish_binary() {
        let a = p("-namespace n -id i -address a");
        assert_eq!(a.action, None);
        assert_eq!(a.publish_binary, "containerd");
    }

    #[test]
    fn errors_name_the_flag() {
        let e = parse(["-bogus".to_string()]).unwrap_err();
        assert!(e.contains("-bogus"));
        let e = parse(["-id".to_string()]).unwrap_err();
        assert!(e.contains("-id"));
    }
}

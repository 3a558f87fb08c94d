//! `io.containerd.content.v1.content`: the local content store on disk.

use std::sync::Arc;

use crated_core::content::ContentStore;

use crate::plugin::{InitContext, InitError, Instance, Registration};
use crate::plugins::CONTENT;

/// The content store backend a content plugin provides.
pub struct ContentBackend(pub Arc<dyn ContentStore>);

/// The plugin's registration.
pub fn registration() -> Registration {
    Registration::new(CONTENT, "content", &[], init)
}

fn init(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
    let store = crated_content::LocalStore::open(ctx.root.clone())?;
    ctx.exports
        .insert("root".into(), ctx.root.display().to_string());
    Ok(Arc::new(ContentBackend(Arc::new(store))))
}

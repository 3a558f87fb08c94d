//! `pull`, `rmi` and `tag`: the `images` group's code with docker's short
//! names and exit codes.

use anyhow::Result;
use crated_client::Client;

use super::normalize;
use crate::cli::{PullArgs, RmiArgs, TagArgs};
use crate::commands::images::{Missing, remove, tag as tag_image};
use crate::commands::images_transfer::pull as pull_image;
use crate::context::Context;

/// `pull IMAGE`.
pub async fn pull(client: &Client, args: PullArgs) -> Result<()> {
    let reference = normalize(&args.reference)?;
    pull_image(client, PullArgs { reference, ..args }).await
}

/// `rmi IMAGE...`: a missing image is an error (exit 1), as in nerdctl.
pub async fn rmi(client: &Client, args: RmiArgs) -> Result<()> {
    let references = args
        .references
        .iter()
        .map(|r| normalize(r))
        .collect::<Result<Vec<_>>>()?;
    remove(client, args.sync, &references, Missing::Fail).await
}

/// `tag SOURCE TARGET`.
pub async fn tag(ctx: &Context, client: &Client, args: TagArgs) -> Result<()> {
    let source = normalize(&args.source)?;
    let target = normalize(&args.target)?;
    tag_image(ctx, client, false, &source, &[target]).await
}

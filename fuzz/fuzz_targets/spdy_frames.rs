//! SPDY/3.1 frames from a streaming client.
#![no_main]

use crated_cri::streaming::spdy::FrameReader;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut reader = FrameReader::new(data);
        for _ in 0..64 {
            match reader.read().await {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    });
});

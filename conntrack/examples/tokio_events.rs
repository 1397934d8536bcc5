//! The event stream with tokio (feature `tokio`).

#[cfg(feature = "tokio")]
fn main() -> Result<(), conntrack::Error> {
    use conntrack::events::{EventConfig, Events};
    use conntrack::stream::EventStream;
    use futures_core::Stream;
    use std::future::poll_fn;
    use std::pin::Pin;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut stream = EventStream::new(Events::open_with(EventConfig::default())?)?;
        while let Some(batch) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
            for ev in batch? {
                println!("{ev:?}");
            }
        }
        Ok(())
    })
}

#[cfg(not(feature = "tokio"))]
fn main() {
    eprintln!("build with --features tokio");
}

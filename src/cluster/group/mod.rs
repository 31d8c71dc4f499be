//! With the journal on, Kafka's consumer group on the journal topic decides which pod serves
//! which partition (README "Operating at scale"). The [`member`] joins the group and turns its rebalances
//! into changes of this pod's [`slots`]; the [`driver`] takes assigned partitions over (claim, replay)
//! and announces what this pod serves on the members topic ([`announce`]); every pod reads that topic
//! into its [`routes`] and forwards by them. Pods other than the owner follow each partition as warm
//! [`standby`]s.

pub mod announce;
pub mod driver;
pub mod member;
pub mod routes;
pub mod slots;
pub mod standby;

pub use routes::{Announcement, Route, Routes};
pub use slots::{InFlight, Slots};
pub use standby::Standby;

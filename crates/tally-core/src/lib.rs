//! Tally's core: the event model, its validation rules, the error types shared by
//! every layer, and the traits that decouple the HTTP layer from storage.
//!
//! Nothing here does I/O. Adapters (DuckDB, SQLite, later Kafka, ClickHouse and
//! PostgreSQL) implement the traits in [`traits`]; the server only sees the traits.

pub mod account;
pub mod clock;
pub mod error;
pub mod event;
pub mod insight;
pub mod parallel;
pub mod person;
pub mod properties;
pub mod traits;
pub mod validate;

pub use account::{
    Invite, InviteId, IssuedSession, KeyScope, LoginRecord, Member, NewUser, PersonalKey,
    PersonalKeyId, ProjectOptions, RefreshOutcome, Role, SessionGrant, SessionId, SessionLifetimes,
    User, UserId,
};
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{EventError, MetaError, SinkError, StoreError};
pub use event::{Event, EventBatch, ProjectId, RawEvent, RawProperties};
pub use insight::{Dashboard, DashboardId, Insight, InsightDraft, InsightId};
pub use person::{
    Person, PersonChanges, PersonId, PersonProperties, PersonSnapshot, PersonStore, PropertyWrite,
    ResolutionGuard, WriteKind,
};
pub use properties::{Properties, PropertiesError};
pub use traits::{
    EventSink, EventStore, InsertOutcome, IssuedKey, KeyGrant, KeyKind, MetadataStore,
    PipelineSettings, PreparedBatch, Project, ProjectSwitches, SinkReceipt,
};
pub use validate::{Limits, OutOfRange, Validator};

//! The in-memory store passes the same contract as the database stores.

use tessera_memory::InMemoryStore;

tessera_repository_contract::license_repository_contract!(async { InMemoryStore::new() });

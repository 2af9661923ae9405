//! The Lua scripts, embedded from `lua/` (one file per script, `<name>-<number of keys>.lua`).
//! redis-rs runs them by SHA and loads them again when Redis has forgotten them.

use redis::Script;
use std::sync::LazyLock;

pub static INDEX_ADD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexAdd-2.lua")));
pub static INDEX_UPDATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexUpdate-1.lua")));
pub static INDEX_INCREMENT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexIncrement-1.lua")));
pub static INDEX_DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexDelete-2.lua")));

//! The Lua scripts, embedded from `lua/` (one file per script, `<name>-<number of keys>.lua`).
//! redis-rs runs them by SHA and loads them again when Redis has forgotten them.

use redis::Script;
use std::sync::LazyLock;

pub static INDEX_ADD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexAdd-2.lua")));
pub static INDEX_UPDATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexUpdate-1.lua")));
pub static INDEX_INCREMENT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexIncrement-1.lua")));
pub static INDEX_DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexDelete-2.lua")));

/// One call of a script: its keys and arguments, so the same call can be sent by SHA inside a
/// pipeline or through `Script::invoke_async` (which reloads a forgotten script).
pub struct ScriptCall {
  pub script: &'static Script,
  pub keys: Vec<String>,
  pub args: Vec<String>,
}

impl ScriptCall {
  pub fn new(script: &'static Script) -> ScriptCall {
    ScriptCall {
      script,
      keys: Vec::new(),
      args: Vec::new(),
    }
  }

  pub fn key(&mut self, key: impl Into<String>) -> &mut Self {
    self.keys.push(key.into());
    self
  }

  pub fn arg(&mut self, arg: impl ToString) -> &mut Self {
    self.args.push(arg.to_string());
    self
  }

  /// The EVALSHA command of this call.
  pub fn evalsha(&self) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(self.script.get_hash()).arg(self.keys.len()).arg(&self.keys).arg(&self.args);
    cmd
  }
}

//! The Lua scripts, embedded from `lua/` (one file per script, `<name>-<number of keys>.lua`,
//! and the helpers some of them share in `lua/includes/`, prepended to those that use them).
//! They run by SHA; the store loads one again when Redis has forgotten it (NOSCRIPT).

use std::sync::LazyLock;

pub struct Script {
  code: String,
  sha: String,
}

/// Helpers a script may include.
const IS_JSON_NUMBER: &str = include_str!("../lua/includes/isJsonNumber.lua");

impl Script {
  fn new(code: &'static str) -> Script {
    Script::with(&[], code)
  }

  /// A script with the helpers it uses placed before it.
  fn with(includes: &[&str], code: &str) -> Script {
    let code: String = includes.iter().copied().chain([code]).collect::<Vec<_>>().join("\n");
    Script {
      sha: sha1_smol::Sha1::from(&code).digest().to_string(),
      code,
    }
  }

  /// SCRIPT LOAD of this script.
  pub fn load(&self) -> redis::Cmd {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("LOAD").arg(&self.code);
    cmd
  }
}

pub static INDEX_ADD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexAdd-2.lua")));
pub static INDEX_UPDATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexUpdate-1.lua")));
pub static INDEX_INCREMENT: LazyLock<Script> =
  LazyLock::new(|| Script::with(&[IS_JSON_NUMBER], include_str!("../lua/indexIncrement-1.lua")));
pub static KV_INCREMENT: LazyLock<Script> = LazyLock::new(|| Script::with(&[IS_JSON_NUMBER], include_str!("../lua/kvIncrement-1.lua")));
pub static INDEX_DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/indexDelete-2.lua")));

/// SCRIPT LOAD of every script.
pub fn loads() -> Vec<redis::Cmd> {
  [&INDEX_ADD, &INDEX_UPDATE, &INDEX_INCREMENT, &INDEX_DELETE, &KV_INCREMENT]
    .iter()
    .map(|s| s.load())
    .collect()
}

/// One call of a script, built straight into its EVALSHA command (sent alone or inside a
/// pipeline): the keys come with `new`, the arguments are appended.
pub struct ScriptCall {
  pub script: &'static Script,
  evalsha: redis::Cmd,
}

impl ScriptCall {
  pub fn new(script: &'static Script, keys: &[&str]) -> ScriptCall {
    let mut evalsha = redis::cmd("EVALSHA");
    evalsha.arg(&script.sha).arg(keys.len()).arg(keys);
    ScriptCall { script, evalsha }
  }

  pub fn arg<T: redis::ToRedisArgs>(&mut self, arg: T) -> &mut Self {
    self.evalsha.arg(arg);
    self
  }

  /// The EVALSHA command of this call.
  pub fn evalsha(&self) -> &redis::Cmd {
    &self.evalsha
  }

  pub fn into_evalsha(self) -> redis::Cmd {
    self.evalsha
  }
}

#[cfg(test)]
mod tests {
  #[test]
  fn the_sha_is_the_one_redis_computes() {
    // redis-cli SCRIPT LOAD "return 1"
    assert_eq!(super::Script::new("return 1").sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  }
}

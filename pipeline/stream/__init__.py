"""The Faust worker: validate -> dedup -> pair, one app, thin agents around pure logic."""

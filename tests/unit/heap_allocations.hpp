// How many times operator new has run in this test binary, for tests that
// assert a per-token path allocates nothing once warm. Link
// tests/unit/heap_allocations.cpp into the binary (it replaces the global
// operator new, so once per binary).
#pragma once

namespace skulk::testing {

long heap_allocations();

} // namespace skulk::testing

// The one pure function every node uses to advance its State.
#pragma once

#include "state/events.hpp"

namespace skulk::state {

// Returns the State after `event`. Pure: no clock, no I/O, no randomness.
// Ordering (idx == last + 1) is the caller's job; apply records event.idx.
State apply(State state, const Event &event);

} // namespace skulk::state

package runtime

// Raced is how many posts found their actor falling asleep, waited for it
// to stop and woke a fresh one: the race the idle stop must survive.
func Raced(h *Host) uint64 { return h.raced.Load() }

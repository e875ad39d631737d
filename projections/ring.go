package projections

// Ring keeps the newest entries up to a maximum, for read models that show
// recent activity. It grows by append until full, so that a quiet agent or
// market costs few entries, then overwrites the oldest in place.
type Ring[T any] struct {
	buf  []T
	next int // where the next entry goes once full; 0 while growing
}

// Push adds t, dropping the oldest entry once max are kept.
func (r *Ring[T]) Push(t T, max int) {
	if len(r.buf) < max {
		r.buf = append(r.buf, t)
		return
	}
	r.buf[r.next] = t
	r.next = (r.next + 1) % len(r.buf)
}

// Newest returns up to limit entries, newest first, as a copy the caller
// may keep; limit <= 0 means all.
func (r *Ring[T]) Newest(limit int) []T {
	n := len(r.buf)
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]T, limit)
	for i := range out {
		out[i] = r.buf[((r.next-1-i)%n+n)%n]
	}
	return out
}

// Len is how many entries r keeps.
func (r *Ring[T]) Len() int { return len(r.buf) }

// Reserve makes room for n entries in all, so that a ring filled to a
// known length (restored from a snapshot) holds no more array than it
// needs.
func (r *Ring[T]) Reserve(n int) {
	if n > cap(r.buf) {
		r.buf = append(make([]T, 0, n), r.buf...)
	}
}

package markets

// ring keeps the newest transactions up to a maximum. It grows by append
// until full, so that a quiet market costs few entries, then overwrites the
// oldest in place.
type ring struct {
	buf  []Transaction
	next int // where the next entry goes once full; 0 while growing
}

func (r *ring) push(t Transaction, max int) {
	if len(r.buf) < max {
		r.buf = append(r.buf, t)
		return
	}
	r.buf[r.next] = t
	r.next = (r.next + 1) % len(r.buf)
}

// newest returns up to limit entries, newest first, as a copy the caller
// may keep; limit <= 0 means all.
func (r *ring) newest(limit int) []Transaction {
	n := len(r.buf)
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]Transaction, limit)
	for i := range out {
		out[i] = r.buf[((r.next-1-i)%n+n)%n]
	}
	return out
}

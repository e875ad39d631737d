package projections

import "strings"

// Interned keeps one copy of the short strings a read model holds many
// times over: reasons and memos such as "operator" or "killed", which
// every agent's entry would otherwise hold a copy of, decoded from its own
// event or from a snapshot. It keeps at most InternedMax strings of at
// most InternedLengthMax bytes, so that free text (a transfer's memo)
// cannot grow it without bound: past that, a string is its own copy, as
// before. The zero value is ready. It is not safe for concurrent use.
type Interned struct {
	m map[string]string
}

// InternedMax is how many strings an Interned keeps at most;
// InternedLengthMax the longest it keeps.
const (
	InternedMax       = 1024
	InternedLengthMax = 64
)

// Of is s, as the copy kept if there is one (or s becomes it).
func (in *Interned) Of(s string) string {
	if s == "" || len(s) > InternedLengthMax {
		return s
	}
	if c, ok := in.m[s]; ok {
		return c
	}
	if len(in.m) >= InternedMax {
		return s
	}
	if in.m == nil {
		in.m = map[string]string{}
	}
	// A copy of its own: s may be cut from a larger string (a record's
	// subject or payload) that the kept copy must not keep reachable.
	c := strings.Clone(s)
	in.m[c] = c
	return c
}

package sandbox

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// Whatever the writes, the tail is the last bytes of their concatenation
// and the total counts them all.
func TestTailKeepsTheEnd(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		size := rapid.IntRange(1, 64).Draw(t, "size")
		writes := rapid.SliceOf(rapid.SliceOfN(rapid.Byte(), 0, 200)).Draw(t, "writes")
		tl := newTail(size)
		var all []byte
		for _, w := range writes {
			if n, err := tl.Write(w); n != len(w) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			all = append(all, w...)
		}
		want := all[max(0, len(all)-size):]
		if got := tl.bytes(); !bytes.Equal(got, want) {
			t.Fatalf("tail = %q; want %q", got, want)
		}
		if tl.total != int64(len(all)) || tl.dropped() != int64(len(all)-len(want)) {
			t.Fatalf("total %d dropped %d; want %d and %d", tl.total, tl.dropped(), len(all), len(all)-len(want))
		}
	})
}

package runtime

import (
	"fmt"
	"slices"
	"testing"
)

// TestMemoryRemembersTheLastKeys: a memory answers the keys of its last
// capacity commands, whether it searches them (few) or indexes them
// (many), forgets the oldest beyond, ignores a key added twice, and lists
// its entries oldest first.
func TestMemoryRemembersTheLastKeys(t *testing.T) {
	for _, tc := range []struct{ capacity, added int }{
		{1, 1}, {1, 3}, {5, 3}, {5, 12}, {memoryIndexMin, memoryIndexMin}, {memoryIndexMin, 3 * memoryIndexMin},
		{256, 15}, {256, 16}, {256, 17}, {256, 700},
	} {
		t.Run(fmt.Sprintf("%d of %d", tc.added, tc.capacity), func(t *testing.T) {
			m := newMemory(tc.capacity)
			key := func(i int) string { return fmt.Sprintf("k%d", i) }
			for i := range tc.added {
				m.add(applied{Key: key(i), Seq: uint64(i + 1), Type: "credits_burned", Data: []byte(`{"amount_micros":1,"reason":"x"}`)})
				m.add(applied{Key: key(i), Seq: 999999}) // a second add changes nothing
			}
			first := max(tc.added-tc.capacity, 0)
			var want []string
			for i := range tc.added {
				res, ok, err := m.result(key(i))
				switch {
				case i < first && ok:
					t.Fatalf("%s remembered past the capacity", key(i))
				case i >= first && (!ok || err != nil || res.Seq != uint64(i+1) || !res.Replayed):
					t.Fatalf("%s: %+v %v %v; want seq %d replayed", key(i), res, ok, err, i+1)
				}
				if i >= first {
					want = append(want, key(i))
				}
			}
			var got []string
			for _, a := range m.entries() {
				got = append(got, a.Key)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("entries %v; want %v", got, want)
			}
		})
	}
}

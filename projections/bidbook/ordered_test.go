package bidbook

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestOrderedMatchesASortedSlice drives the block list with random inserts
// and removals, small blocks or not, and checks it against a sorted slice:
// same entries, same order, same walks after any pivot.
func TestOrderedMatchesASortedSlice(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := newOrdered(cmp.Compare[int])
		var ref []int
		keys := rapid.IntRange(0, 3000)
		for range rapid.IntRange(0, 4000).Draw(t, "steps") {
			v := keys.Draw(t, "v")
			i, present := slices.BinarySearch(ref, v)
			if rapid.IntRange(0, 2).Draw(t, "op") > 0 { // insert twice as often
				if !present {
					o.insert(v)
					ref = slices.Insert(ref, i, v)
				}
			} else {
				if got := o.remove(v); got != present {
					t.Fatalf("remove(%d) = %v, want %v", v, got, present)
				}
				if present {
					ref = slices.Delete(ref, i, i+1)
				}
			}
		}
		if o.Len() != len(ref) {
			t.Fatalf("Len %d, want %d", o.Len(), len(ref))
		}
		for _, b := range o.blocks {
			if len(b) == 0 || len(b) > blockMax {
				t.Fatalf("block of %d entries", len(b))
			}
		}
		var all []int
		o.after(0, false, func(v int) bool { all = append(all, v); return true })
		if !slices.Equal(all, ref) {
			t.Fatalf("walk differs from the sorted slice")
		}
		for range 20 {
			pivot := rapid.IntRange(-1, 3001).Draw(t, "pivot")
			n := rapid.IntRange(1, 600).Draw(t, "n")
			var got []int
			o.after(pivot, true, func(v int) bool {
				got = append(got, v)
				return len(got) < n
			})
			i, found := slices.BinarySearch(ref, pivot)
			if found {
				i++
			}
			want := ref[i:min(i+n, len(ref))]
			if !slices.Equal(got, want) {
				t.Fatalf("after(%d) limit %d: got %v, want %v", pivot, n, got, want)
			}
		}
	})
}

// TestOrderedSplitsAndMerges grows the list over many blocks and shrinks it
// again, checking the order and the block sizes on the way.
func TestOrderedSplitsAndMerges(t *testing.T) {
	o := newOrdered(cmp.Compare[int])
	const n = 20 * blockMax
	perm := rand.New(rand.NewPCG(1, 2)).Perm(n)
	for _, v := range perm {
		o.insert(v)
	}
	check := func(want int) {
		t.Helper()
		if o.Len() != want {
			t.Fatalf("Len %d, want %d", o.Len(), want)
		}
		prev, count := -1, 0
		o.after(0, false, func(v int) bool {
			if v <= prev {
				t.Fatalf("%d after %d", v, prev)
			}
			prev, count = v, count+1
			return true
		})
		if count != want {
			t.Fatalf("walked %d, want %d", count, want)
		}
		for _, b := range o.blocks {
			if len(b) == 0 || len(b) > blockMax {
				t.Fatalf("block of %d entries", len(b))
			}
		}
	}
	check(n)
	if len(o.blocks) < n/blockMax {
		t.Fatalf("%d blocks for %d entries", len(o.blocks), n)
	}
	for i, v := range perm[:n-10] {
		if !o.remove(v) {
			t.Fatalf("remove(%d) missed", v)
		}
		if o.remove(v) {
			t.Fatalf("remove(%d) twice", v)
		}
		if i%997 == 0 {
			check(n - i - 1)
		}
	}
	check(10)
	if len(o.blocks) > 2 {
		t.Fatalf("%d blocks left for 10 entries", len(o.blocks))
	}
	if o.remove(n + 1) {
		t.Fatal("removed an entry past the end")
	}
}

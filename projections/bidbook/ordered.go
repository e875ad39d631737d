package bidbook

import "slices"

// blockMax bounds one block of an ordered list. Inserting or removing moves
// at most a block's worth of entries and finding a block is a binary search
// over the blocks, so both cost O(log n + blockMax) instead of the O(n) of a
// single sorted slice; 100,000 bids are about 200 blocks.
const blockMax = 512

// ordered is a list kept in the order of cmp, split into blocks of at most
// blockMax entries. cmp must be a total order: two entries compare equal
// only if they are the same entry. The zero value is empty, with cmp to be
// set before first use.
type ordered[T any] struct {
	cmp    func(x, y T) int
	blocks [][]T
	n      int
}

func newOrdered[T any](cmp func(x, y T) int) *ordered[T] { return &ordered[T]{cmp: cmp} }

// Len is the number of entries.
func (o *ordered[T]) Len() int { return o.n }

// block returns the index of the first block whose last entry is at or
// after v: the only block that may hold v, or where v goes.
func (o *ordered[T]) block(v T) int {
	i, _ := slices.BinarySearchFunc(o.blocks, v, func(b []T, v T) int { return o.cmp(b[len(b)-1], v) })
	return i
}

// insert adds v, which must not be in the list already.
func (o *ordered[T]) insert(v T) {
	o.n++
	if len(o.blocks) == 0 {
		o.blocks = append(o.blocks, []T{v})
		return
	}
	i := o.block(v)
	if i == len(o.blocks) {
		i-- // after every entry: the end of the last block
	}
	b := o.blocks[i]
	j, _ := slices.BinarySearchFunc(b, v, o.cmp)
	b = slices.Insert(b, j, v)
	if len(b) <= blockMax {
		o.blocks[i] = b
		return
	}
	// Split in two halves, each with room to grow, so that a run of
	// inserts at one place does not split at every step.
	half := len(b) / 2
	right := slices.Clone(b[half:])
	clear(b[half:]) // no stale references for the collector to keep
	o.blocks[i] = b[:half]
	o.blocks = slices.Insert(o.blocks, i+1, right)
}

// remove takes v out of the list and reports whether it was there.
func (o *ordered[T]) remove(v T) bool {
	_, ok := o.take(v)
	return ok
}

// take removes the entry that compares equal to v and returns it, if
// there is one.
func (o *ordered[T]) take(v T) (taken T, ok bool) {
	i := o.block(v)
	if i == len(o.blocks) {
		return taken, false
	}
	b := o.blocks[i]
	j, found := slices.BinarySearchFunc(b, v, o.cmp)
	if !found {
		return taken, false
	}
	o.n--
	taken = b[j]
	b = slices.Delete(b, j, j+1)
	if len(b) == 0 {
		o.blocks = slices.Delete(o.blocks, i, i+1)
		return taken, true
	}
	o.blocks[i] = b
	// Merge small neighbours so that many removals do not leave many
	// nearly empty blocks to search.
	if i+1 < len(o.blocks) && len(b)+len(o.blocks[i+1]) <= blockMax/2 {
		o.blocks[i] = append(b, o.blocks[i+1]...)
		o.blocks = slices.Delete(o.blocks, i+1, i+2)
	}
	return taken, true
}

// after calls fn for the entries strictly after pivot in order (every
// entry when hasPivot is false), until fn returns false.
func (o *ordered[T]) after(pivot T, hasPivot bool, fn func(T) bool) {
	i, j := 0, 0
	if hasPivot {
		i, _ = slices.BinarySearchFunc(o.blocks, pivot, func(b []T, v T) int {
			if o.cmp(b[len(b)-1], v) <= 0 {
				return -1 // the whole block is at or before the pivot
			}
			return 1
		})
		if i == len(o.blocks) {
			return
		}
		j, _ = slices.BinarySearchFunc(o.blocks[i], pivot, func(x, v T) int {
			if o.cmp(x, v) <= 0 {
				return -1
			}
			return 1
		})
	}
	for ; i < len(o.blocks); i, j = i+1, 0 {
		for _, v := range o.blocks[i][j:] {
			if !fn(v) {
				return
			}
		}
	}
}

package chain

import "errors"

// ErrBroken matches every *Break with errors.Is: a record whose link to its
// actor's previous record does not hold. The log was altered (a record
// edited, deleted, inserted or moved) or written by something that does not
// chain; an audit stops there, because every fact after it rests on a
// history that is not the one Agora wrote.
var ErrBroken = errors.New("hash chain broken")

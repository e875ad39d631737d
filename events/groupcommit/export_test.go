package groupcommit

// Waiting is how many appends wait in l's queue, not yet in a batch.
func Waiting(l *Log) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

package runtime

import (
	"errors"
	"sync"
)

// Each runs fn once for every id, at most parallel at a time (at least
// one), and returns every error, in the order of ids, once all have
// returned: how the actors of many ids are recovered or read at a start,
// where one that fails must not keep the others from being tried.
func Each(ids []string, parallel int, fn func(id string) error) error {
	sem := make(chan struct{}, max(parallel, 1))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(id)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

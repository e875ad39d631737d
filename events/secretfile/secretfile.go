// Package secretfile writes the secrets Agora keeps in its data directory
// (the operator token, the NATS password): once, whole, private.
//
// It sits under events/ because the log's adapter (events/natslog) needs
// it and may import nothing above the events layer; it imports nothing of
// Agora's.
package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteOnce writes content to dir/name with mode, unless the file exists.
// The content goes to a private temporary file, synced, then linked to its
// name, which fails if another process made the file meanwhile: the file
// is never seen half-written, and two starts cannot end with two secrets.
// created is false when the file was there (or another process won the
// race): the caller then reads it.
func WriteOnce(dir, name, content string, mode fs.FileMode) (created bool, err error) {
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return false, err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	err = tmp.Chmod(mode)
	if err == nil {
		_, err = tmp.WriteString(content)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := os.Link(tmp.Name(), filepath.Join(dir, name)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	syncDir(dir)
	return true, nil
}

// syncDir makes the new name durable. It is best effort: the secret is
// already in the file, and a lost name only means a new secret at the
// next start.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

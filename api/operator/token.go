package operator

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/agora-econ/agora/events/secretfile"
)

// TokenFile is the name of the operator token's file in the data
// directory.
const TokenFile = "operator.token"

// tokenFileMode is the only access the token's file may grant: its owner
// reads and writes it, nobody else does anything.
const tokenFileMode fs.FileMode = 0o600

// LoadOrCreateToken returns the operator token and where it is kept.
//
// A configured token (non-empty) is used as it is, after ValidateToken,
// and path is empty: it lives in the configuration. Otherwise the token is
// read from <dataDir>/operator.token; at the first start the file is
// created with TokenBytes random bytes, base64url, and mode 0600. A file
// whose mode grants more than 0600 (readable by the group, say) is refused
// rather than used or repaired: a token others could read may be theirs
// already, so the operator must decide (delete the file for a new token,
// or chmod 600 to keep it). So is a file that is not a regular file, or
// whose token is empty or malformed: it is never overwritten.
func LoadOrCreateToken(dataDir string, configured string) (token, path string, err error) {
	if configured != "" {
		if err := ValidateToken(configured); err != nil {
			return "", "", fmt.Errorf("operator token from the configuration: %w", err)
		}
		return configured, "", nil
	}
	if dataDir == "" {
		return "", "", fmt.Errorf("%w: no data directory and no configured token", ErrTokenFile)
	}
	path = filepath.Join(dataDir, TokenFile)
	token, err = readToken(path)
	if errors.Is(err, fs.ErrNotExist) {
		token, err = createToken(dataDir, path)
	}
	if err != nil {
		return "", "", err
	}
	return token, path, nil
}

// ValidateToken checks an operator token: TokenLengthMin to TokenLengthMax
// characters that can travel in an Authorization header (printable ASCII,
// no space). A short token could be guessed; the generated ones are 43
// characters.
func ValidateToken(token string) error {
	switch {
	case len(token) < TokenLengthMin:
		return fmt.Errorf("%w: %d characters, at least %d are needed", ErrInvalidToken, len(token), TokenLengthMin)
	case len(token) > TokenLengthMax:
		return fmt.Errorf("%w: %d characters, at most %d are allowed", ErrInvalidToken, len(token), TokenLengthMax)
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: character %d is not printable ASCII (spaces are not allowed either)", ErrInvalidToken, i+1)
		}
	}
	return nil
}

// readToken reads the token of an existing file, refusing one others may
// read.
func readToken(path string) (string, error) {
	info, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file (%s)", ErrTokenFile, path, info.Mode().Type())
	}
	if perm := info.Mode().Perm(); perm&^tokenFileMode != 0 {
		return "", fmt.Errorf("%w: %s has mode %#o, wider than %#o: others may have read the token; "+
			"delete the file to have a new token made at the next start, or chmod 600 it to keep this one",
			ErrTokenFile, path, perm, tokenFileMode)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	token := strings.TrimSpace(string(b))
	if err := ValidateToken(token); err != nil {
		return "", fmt.Errorf("%w: %s: %w; delete the file to have a new token made at the next start", ErrTokenFile, path, err)
	}
	return token, nil
}

// createToken makes the token file at the first start. The token is
// written to a private temporary file, synced, then linked to its name,
// which fails if another process made the file meanwhile: the file is
// never seen half-written, and two starts cannot end with two tokens
// (the loser reads the winner's).
func createToken(dataDir, path string) (string, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	raw := make([]byte, TokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	created, err := secretfile.WriteOnce(dataDir, filepath.Base(path), token+"\n", tokenFileMode)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	if !created {
		return readToken(path)
	}
	return token, nil
}

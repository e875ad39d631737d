package terminal

import (
	"errors"

	"github.com/agora-econ/agora/api/operator/opclient"
)

// ErrNotAnswering: no answer came from the economy (the connection was
// refused or broke, or the economy said it is not ready). The terminal
// says so and keeps asking: an economy restarting answers again.
var ErrNotAnswering = opclient.ErrNotAnswering

// ErrNotFound: the route or the thing asked for is not there. For the
// attention routes it means an economy without the attention slot.
var ErrNotFound = opclient.ErrNotFound

// ErrInvalidClient: the client was given no usable address or token.
var ErrInvalidClient = errors.New("invalid operator API client")

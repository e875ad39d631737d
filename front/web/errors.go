package web

import (
	"errors"
	"reflect"
)

// ErrNilDependency: New was given no read model or handler where one is
// required; the dashboard would fail on its first page instead.
var ErrNilDependency = errors.New("web: missing dependency")

// ErrInvalidOptions: New was given no operator token, or a malformed one;
// a dashboard without it would be open to anyone who reaches the port.
var ErrInvalidOptions = errors.New("web: invalid options")

// isNil reports whether v is nil, a typed nil counted: a nil *View in an
// interface field is as missing as none.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Interface, reflect.Slice, reflect.Chan:
		return r.IsNil()
	}
	return false
}

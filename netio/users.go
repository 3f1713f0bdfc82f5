package netio

import (
	"io"

	"github.com/ringex/ringex/auth"
)

// Users is the table of users allowed to log in (package auth, which also
// documents the users file).
type Users = auth.Users

// ParseUsers reads a users file (auth.ParseUsers).
func ParseUsers(r io.Reader) (*Users, error) { return auth.ParseUsers(r) }

// HashKey returns the users-file form of an API key.
func HashKey(apiKey string) string { return auth.HashKey(apiKey) }

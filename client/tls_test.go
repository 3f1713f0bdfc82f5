package client

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestTLSFlags(t *testing.T) {
	parse := func(args ...string) (*TLSFlags, error) {
		var f TLSFlags
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f.Register(fs)
		return &f, fs.Parse(args)
	}
	f, _ := parse()
	if cfg, err := f.Config(); cfg != nil || err != nil {
		t.Fatalf("no flags: %v %v", cfg, err)
	}
	f, _ = parse("-tls")
	if cfg, err := f.Config(); cfg == nil || err != nil || cfg.RootCAs != nil {
		t.Fatalf("-tls: %v %v", cfg, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	for _, args := range [][]string{
		{"-tls-ca", "/nonexistent/ca.pem"},
		{"-tls-ca", bad},
		{"-tls-cert", "c.pem"},
		{"-tls-key", "k.pem"},
		{"-tls-cert", bad, "-tls-key", bad},
	} {
		f, _ := parse(args...)
		if _, err := f.Config(); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

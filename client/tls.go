package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
)

// TLSConfig is the configuration of a client that trusts the CA
// certificates of caFile (PEM; empty: the system's roots). certFile and
// keyFile, if set, are the client's own certificate, for a server that
// asks for one (mutual TLS). Set it as Options.TLS.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client: TLS CA file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: TLS CA file %s: no PEM certificate in it", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("client: a TLS client certificate needs both its certificate and its key")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// TLSFlags are the TLS flags of the command-line tools (ringex,
// ringex-load): -tls, -tls-ca, -tls-cert and -tls-key.
type TLSFlags struct {
	On            bool
	CA, Cert, Key string
}

// Register adds the flags to fs.
func (f *TLSFlags) Register(fs *flag.FlagSet) {
	fs.BoolVar(&f.On, "tls", false, "connect with TLS (to ringexd's -tls-listen / -md-tls-listen addresses)")
	fs.StringVar(&f.CA, "tls-ca", "", "PEM file of the CA that signed the server's certificate (implies -tls; default: the system's roots)")
	fs.StringVar(&f.Cert, "tls-cert", "", "PEM client certificate, for a server that requires one (implies -tls; with -tls-key)")
	fs.StringVar(&f.Key, "tls-key", "", "PEM key of -tls-cert")
}

// Config validates the flags and returns the TLS configuration, or nil
// if TLS is off.
func (f *TLSFlags) Config() (*tls.Config, error) {
	if !f.On && f.CA == "" && f.Cert == "" && f.Key == "" {
		return nil, nil
	}
	return TLSConfig(f.CA, f.Cert, f.Key)
}

// DialConn connects to addr with TCP_NODELAY (requests are batched by the
// caller's writes, not by Nagle; under TLS one write is one record), over
// TLS if cfg is set; the server name defaults to addr's host. Dial and
// DialFeed use it; a caller with its own framing (ringex-load) may too.
func DialConn(ctx context.Context, addr string, cfg *tls.Config) (net.Conn, error) {
	d := &net.Dialer{}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if cfg == nil {
		return nc, nil
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("client: TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

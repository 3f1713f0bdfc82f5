package tlsfront

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// CertConfig names the files of one TLS listener.
type CertConfig struct {
	CertFile string // PEM certificate chain
	KeyFile  string // PEM private key
	// ClientCAFile, if set, turns on mutual TLS: a client must present a
	// certificate signed by one of these CAs.
	ClientCAFile string
	// MinVersion is tls.VersionTLS13 (the default, 0) or tls.VersionTLS12.
	MinVersion uint16
}

// Certs is a listener's TLS configuration, reloadable from its files.
// Config returns a *tls.Config whose GetConfigForClient hands each new
// handshake the configuration loaded last.
type Certs struct {
	cfg CertConfig
	cur atomic.Pointer[tls.Config]
}

// LoadCerts reads the files of cfg.
func LoadCerts(cfg CertConfig) (*Certs, error) {
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS13
	}
	if cfg.MinVersion != tls.VersionTLS13 && cfg.MinVersion != tls.VersionTLS12 {
		return nil, fmt.Errorf("tls: minimum version %#x: want TLS 1.2 or 1.3", cfg.MinVersion)
	}
	c := &Certs{cfg: cfg}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On an error the configuration in force
// stays.
func (c *Certs) Reload() error {
	cert, err := tls.LoadX509KeyPair(c.cfg.CertFile, c.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: certificate %s, key %s: %w", c.cfg.CertFile, c.cfg.KeyFile, err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   c.cfg.MinVersion,
		// One record per write, whatever its size: an ack batch is one
		// record from the first byte (crypto/tls otherwise starts each
		// connection with MSS-sized records, for browsers).
		DynamicRecordSizingDisabled: true,
	}
	if c.cfg.ClientCAFile != "" {
		pool, err := LoadCAs(c.cfg.ClientCAFile)
		if err != nil {
			return err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	c.cur.Store(cfg)
	return nil
}

// Config is the listener's *tls.Config.
func (c *Certs) Config() *tls.Config {
	return &tls.Config{
		MinVersion: c.cfg.MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return c.cur.Load(), nil
		},
	}
}

// LoadCAs reads a PEM file of CA certificates.
func LoadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("tls: CA file " + file + ": no PEM certificate in it")
	}
	return pool, nil
}

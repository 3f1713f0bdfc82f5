package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringex/ringex/auth"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/marketdata"
	"github.com/ringex/ringex/netio/orderentry"
	"github.com/ringex/ringex/netio/tlsfront"
)

// security is ringexd's edge security, wired here: the TLS listeners
// (fronts: the handshake, then the socket goes to its gnet server), the
// auth guard (login throttle, per-user rate and session limits, audit) and
// the reload of the users file and the certificates on SIGHUP and POST
// /users/reload. main.go calls it in four
// places: flags, validate, guard, start.
type security struct {
	tlsListen, mdTLSListen string
	cert, key              string
	mdCert, mdKey          string
	clientCA               string
	tlsMin                 string

	userRate    float64
	userBurst   int
	maxSessions int
	throttle    auth.ThrottleConfig
	proxyFlag   string           // -proxy-protocol
	proxy       netio.ProxyTrust // its addresses, parsed by validate

	usersFile string
	guardObj  *auth.Guard
	certs     []*tlsfront.Certs
	fronts    []*tlsfront.Front
	log       *slog.Logger
	reloadMu  sync.Mutex
}

// addSecurityFlags registers the security flags on fs; validate checks
// them after the parse.
func addSecurityFlags(fs *flag.FlagSet) *security {
	s := &security{}
	fs.StringVar(&s.tlsListen, "tls-listen", "", "order-entry TLS listen address (empty: no TLS); -listen must then be a loopback address")
	fs.StringVar(&s.mdTLSListen, "md-tls-listen", "", "market-data TLS listen address (empty: no TLS); -md-listen must then be a loopback address")
	fs.StringVar(&s.cert, "tls-cert", "", "PEM certificate chain of the TLS listeners (reloaded on SIGHUP)")
	fs.StringVar(&s.key, "tls-key", "", "PEM private key of -tls-cert")
	fs.StringVar(&s.mdCert, "md-tls-cert", "", "market-data TLS certificate, if not -tls-cert")
	fs.StringVar(&s.mdKey, "md-tls-key", "", "key of -md-tls-cert")
	fs.StringVar(&s.clientCA, "tls-client-ca", "", "PEM CA certificates: order-entry TLS clients must present a certificate they signed (mutual TLS)")
	fs.StringVar(&s.tlsMin, "tls-min-version", "1.3", "oldest TLS version accepted: 1.3 or 1.2")
	fs.Float64Var(&s.userRate, "user-rate", 0, "default requests per second per user, all its sessions together, past which requests get Reject 113 (0: unlimited; the users file's rate= overrides)")
	fs.IntVar(&s.userBurst, "user-burst", 0, "default requests a user may send at once above -user-rate (0: a tenth of a second at -user-rate, at least 1; burst= overrides)")
	fs.IntVar(&s.maxSessions, "max-sessions-per-user", 64, "default most order-entry sessions per user (0: unlimited; sessions= overrides)")
	def := auth.DefaultThrottle()
	s.throttle.MaxEntries = def.MaxEntries // no flag
	fs.IntVar(&s.throttle.AddrFailures, "login-addr-failures", def.AddrFailures, "failed logins from one source address within -login-window that block it")
	fs.IntVar(&s.throttle.UserFailures, "login-user-failures", def.UserFailures, "failed logins for one user name within -login-window that block the name")
	fs.DurationVar(&s.throttle.Window, "login-window", def.Window, "how long failed logins are counted")
	fs.DurationVar(&s.throttle.Backoff, "login-backoff", def.Backoff, "first block after too many failed logins; doubles with each further block")
	fs.DurationVar(&s.throttle.MaxBackoff, "login-max-backoff", def.MaxBackoff, "longest block after failed logins")
	fs.StringVar(&s.proxyFlag, "proxy-protocol", "", "comma-separated addresses and CIDR prefixes of trusted proxies (HAProxy, stunnel): a connection from one, to any listener, must begin with a PROXY protocol v1 or v2 header whose declared client address then counts for the login throttle, the audit and the logs; other connections are served plainly (empty: off)")
	return s
}

// validate checks the security flags against each other and against the
// plain listen addresses. parseConfig has checked that every listen
// address, the TLS ones too, is host:port and used once.
func (s *security) validate(listen, mdListen string) error {
	switch {
	case s.userRate < 0 || s.userRate > 1e9:
		return errors.New("-user-rate: want 0 (unlimited) to 1e9 requests per second")
	case s.userBurst < 0 || s.userBurst > 1<<30:
		return errors.New("-user-burst: want 0 (the default) or a positive count")
	case s.maxSessions < 0:
		return errors.New("-max-sessions-per-user: must not be negative")
	case s.throttle.AddrFailures < 1 || s.throttle.UserFailures < 1:
		return errors.New("-login-addr-failures and -login-user-failures must be at least 1")
	case s.throttle.Window <= 0 || s.throttle.Backoff <= 0:
		return errors.New("-login-window and -login-backoff must be positive")
	case s.throttle.MaxBackoff < s.throttle.Backoff:
		return errors.New("-login-max-backoff must be at least -login-backoff")
	case s.tlsMin != "1.3" && s.tlsMin != "1.2":
		return fmt.Errorf("-tls-min-version %q: want 1.3 or 1.2", s.tlsMin)
	}
	proxy, err := netio.ParseProxyTrust(s.proxyFlag)
	if err != nil {
		return fmt.Errorf("-proxy-protocol: %w", err)
	}
	s.proxy = proxy
	if s.userRate > 0 && s.userBurst == 0 {
		s.userBurst = max(1, int(s.userRate/10))
	}
	if s.tlsListen == "" && s.mdTLSListen == "" {
		if s.cert != "" || s.key != "" || s.mdCert != "" || s.mdKey != "" || s.clientCA != "" {
			return errors.New("-tls-cert, -tls-key, -md-tls-cert, -md-tls-key and -tls-client-ca need -tls-listen or -md-tls-listen")
		}
		return nil
	}
	if s.clientCA != "" && s.tlsListen == "" {
		return errors.New("-tls-client-ca needs -tls-listen")
	}
	if (s.mdCert == "") != (s.mdKey == "") {
		return errors.New("-md-tls-cert and -md-tls-key go together")
	}
	for _, l := range []struct{ tls, plain, cert, key, what string }{
		{s.tlsListen, listen, s.cert, s.key, "-tls-listen"},
		{s.mdTLSListen, mdListen, or(s.mdCert, s.cert), or(s.mdKey, s.key), "-md-tls-listen"},
	} {
		if l.tls == "" {
			continue
		}
		if l.cert == "" || l.key == "" {
			return fmt.Errorf("%s needs -tls-cert and -tls-key", l.what)
		}
		if !loopback(l.plain) {
			return fmt.Errorf("%s: the plain listener %q must be a loopback address (a public plain port would let clients skip TLS)", l.what, l.plain)
		}
	}
	return nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// guard builds the auth guard both servers share.
func (s *security) guard(users *netio.Users, usersFile string, log *slog.Logger, reg prometheus.Registerer) *auth.Guard {
	s.usersFile, s.log = usersFile, log
	s.guardObj = auth.New(auth.Config{
		Users:      users,
		Defaults:   auth.Limits{Rate: s.userRate, Burst: s.userBurst, MaxSessions: s.maxSessions},
		Throttle:   s.throttle,
		Logger:     log,
		Registerer: reg,
	})
	return s.guardObj
}

// start opens the TLS fronts once the plain servers listen, and the SIGHUP
// handler. An error opening a front, or a front's Serve error, goes to errc
// (which stops ringexd). stop closes the fronts' listeners and the
// handshakes in progress; the TLS connections they handed over belong to
// the servers, which log them out with the plain ones.
func (s *security) start(gateway *orderentry.Gateway, notifier *marketdata.Notifier, reg prometheus.Registerer, errc chan<- error) (stop func()) {
	s.openFronts(gateway, notifier, reg, errc)
	// The SIGHUP handler starts after the fronts are open, so that a
	// reload never races with s.certs being filled.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				s.log.Info("SIGHUP: reloading the users file and the TLS certificates")
				s.reload()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		for _, f := range s.fronts {
			f.Close()
		}
	}
}

func (s *security) openFronts(gateway *orderentry.Gateway, notifier *marketdata.Notifier, reg prometheus.Registerer, errc chan<- error) {
	minVersion := uint16(tls.VersionTLS13)
	if s.tlsMin == "1.2" {
		minVersion = tls.VersionTLS12
	}
	for _, l := range []struct {
		name, addr, cert, key, clientCA string
		ready                           <-chan struct{}
		enroll                          func(net.Conn, *netio.TLSConn) error
	}{
		{"order entry", s.tlsListen, s.cert, s.key, s.clientCA, gateway.Ready(), gateway.Enroll},
		{"market data", s.mdTLSListen, or(s.mdCert, s.cert), or(s.mdKey, s.key), "", notifier.Ready(), notifier.Enroll},
	} {
		if l.addr == "" {
			continue
		}
		certs, err := tlsfront.LoadCerts(tlsfront.CertConfig{CertFile: l.cert, KeyFile: l.key, ClientCAFile: l.clientCA, MinVersion: minVersion})
		if err != nil {
			errc <- err
			return
		}
		select {
		case <-l.ready:
		case <-time.After(30 * time.Second):
			errc <- fmt.Errorf("%s TLS: the plain server is not listening after 30s", l.name)
			return
		}
		f, err := tlsfront.Listen(tlsfront.Config{Name: l.name, Addr: l.addr, Enroll: l.enroll,
			TLS: certs.Config(), ProxyFrom: s.proxy, Logger: s.log, Registerer: reg})
		if err != nil {
			errc <- err
			return
		}
		s.certs = append(s.certs, certs)
		s.fronts = append(s.fronts, f)
		go func() {
			if err := f.Serve(); err != nil {
				errc <- err
			}
		}()
	}
}

// reloadResult is what POST /users/reload answers.
type reloadResult struct {
	Users    *auth.ReloadStats `json:"users,omitempty"`
	UsersErr string            `json:"users_error,omitempty"`
	CertsErr string            `json:"certs_error,omitempty"`
}

// reload reads the users file and the certificates again. Whatever fails
// to load keeps what is in force.
func (s *security) reload() reloadResult {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	var res reloadResult
	if s.usersFile == "" {
		res.UsersErr = "no -users file: the embedded demo users do not change"
		s.log.Warn("users reload: " + res.UsersErr)
	} else if f, err := os.Open(s.usersFile); err != nil {
		res.UsersErr = err.Error()
		s.log.Error("users reload failed: keeping the users in force", "err", err)
	} else {
		st, err := s.guardObj.ReloadFrom(f)
		f.Close()
		if err != nil {
			res.UsersErr = err.Error()
		} else {
			res.Users = &st
		}
	}
	var errs []string
	for _, c := range s.certs {
		if err := c.Reload(); err != nil {
			errs = append(errs, err.Error())
			s.log.Error("TLS certificate reload failed: keeping the certificate in force", "err", err)
		}
	}
	if len(s.certs) > 0 && len(errs) == 0 {
		s.log.Info("TLS certificates reloaded")
	}
	res.CertsErr = strings.Join(errs, "; ")
	return res
}

// routes adds POST /users/reload to the admin server: the same reload as
// SIGHUP, answered with what changed (JSON); 500 if anything failed.
func (s *security) routes(mux *http.ServeMux) {
	mux.HandleFunc("/users/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		res := s.reload()
		w.Header().Set("Content-Type", "application/json")
		if res.UsersErr != "" && s.usersFile != "" || res.CertsErr != "" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		json.NewEncoder(w).Encode(res)
	})
}

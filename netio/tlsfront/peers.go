package tlsfront

import "sync"

// Peers maps the address a backend sees for a relayed connection (the
// front's end of the loopback connection) to the client's own address. It
// implements auth.PeerResolver. One Peers may serve several fronts: the
// loopback ports they dial from are distinct.
type Peers struct {
	m sync.Map // string -> string
}

// Peer returns the client address behind a backend-side address.
func (p *Peers) Peer(addr string) (string, bool) {
	v, ok := p.m.Load(addr)
	if !ok {
		return "", false
	}
	return v.(string), true
}

func (p *Peers) add(addr, client string) { p.m.Store(addr, client) }
func (p *Peers) remove(addr string)      { p.m.Delete(addr) }

package fanout

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/perf"
)

// epollReaders read every subscriber on a few threads, each waiting in its
// own level-triggered epoll set: one epoll_wait for all the sockets that
// became readable, then one read each into the thread's buffer. Beside the
// goroutine per connection this saves the goroutine's wake-up and the
// second read that finds the socket empty before it parks again.
//
// A subscriber's socket is taken from Go's netpoller once subscribed: its
// descriptor is duplicated and the net.Conn closed (which removes it from
// the runtime's epoll set), so that only these threads see its events.
type epollReaders struct {
	s    *Subscribers
	sets []*epollSet
	wg   sync.WaitGroup
}

// epollSet is one reader thread's epoll set, its subscribers (the event's
// data is the index) and the eventfd that stops it.
type epollSet struct {
	ep, stop int
	rec      *perf.Recorder

	mu   sync.Mutex
	subs []*subscriber
}

const epollStop = -1 // the event data of the stop eventfd

func newEpollReaders(s *Subscribers, threads int) (*epollReaders, error) {
	e := &epollReaders{s: s}
	for i := range threads {
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			e.close()
			return nil, fmt.Errorf("epoll_create: %w", err)
		}
		stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			unix.Close(ep)
			e.close()
			return nil, fmt.Errorf("eventfd: %w", err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: epollStop}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, stop, &ev); err != nil {
			unix.Close(ep)
			unix.Close(stop)
			e.close()
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
		set := &epollSet{ep: ep, stop: stop, rec: s.recs[i%len(s.recs)]}
		e.sets = append(e.sets, set)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			set.loop(s)
		}()
	}
	return e, nil
}

// add moves sub's socket from its net.Conn to one of the sets.
func (e *epollReaders) add(sub *subscriber, i int) error {
	rc, err := sub.nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var dupErr error
	if err := rc.Control(func(fd uintptr) { sub.fd, dupErr = unix.Dup(int(fd)) }); err != nil {
		return err
	}
	if dupErr != nil {
		return fmt.Errorf("dup: %w", dupErr)
	}
	sub.nc.Close() // out of Go's netpoller; the duplicate keeps the socket
	sub.nc = nil
	if err := unix.SetNonblock(sub.fd, true); err != nil {
		return err
	}
	set := e.sets[i%len(e.sets)]
	set.mu.Lock()
	idx := len(set.subs)
	set.subs = append(set.subs, sub)
	set.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(idx)}
	if err := unix.EpollCtl(set.ep, unix.EPOLL_CTL_ADD, sub.fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

func (set *epollSet) loop(s *Subscribers) {
	buf := make([]byte, readBuffer)
	lat := make([]int64, 0, readBuffer/(wire.HeaderLen+wire.TradeLen))
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(set.ep, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == epollStop {
				return
			}
			set.mu.Lock()
			sub := set.subs[ev.Fd]
			set.mu.Unlock()
			// The subscriber's unparsed tail goes first, then the read.
			have := copy(buf, sub.carry)
			m, err := unix.Read(sub.fd, buf[have:])
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err == nil && m == 0 {
				err = errors.New("EOF")
			}
			if err == nil {
				have += m
				var at int
				at, err = s.parse(buf[:have], time.Now().UnixNano(), &sub.check, set.rec, lat)
				sub.carry = append(sub.carry[:0], buf[at:have]...)
			}
			if err != nil {
				sub.err = err
				unix.EpollCtl(set.ep, unix.EPOLL_CTL_DEL, sub.fd, nil)
			}
		}
	}
}

// close stops the threads and waits for them; the caller closes the
// subscribers' descriptors after.
func (e *epollReaders) close() {
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	for _, set := range e.sets {
		unix.Write(set.stop, one)
	}
	e.wg.Wait()
	for _, set := range e.sets {
		unix.Close(set.ep)
		unix.Close(set.stop)
	}
	e.sets = nil
}

const epollSupported = true

func closeFD(fd int) { unix.Close(fd) }

//go:build !linux

package fanout

import "errors"

type epollReaders struct{}

func newEpollReaders(*Subscribers, int) (*epollReaders, error) {
	return nil, errors.New("fanout: epoll readers need Linux")
}

func (*epollReaders) add(*subscriber, int) error {
	return errors.New("fanout: epoll readers need Linux")
}
func (*epollReaders) close() {}

const epollSupported = false

func closeFD(int) {}

package mobile

import (
	"context"
	"sync"

	"github.com/ferryhq/ferry"
)

// Listener gets an operation's events, each the JSON of one ferry.Event
// ({"event":"progress","phase":"receiving","done":…,"total":…}, …), one
// call at a time and in order, from a thread of Ferry's own: the app hands
// them to its UI thread itself. A slow listener slows the operation down.
type Listener interface {
	OnEvent(eventJSON string)
}

// Operation is a send, receive, backup or restore running in the
// background. Its methods are safe to call from any thread.
type Operation struct {
	// Constant after the call that made it returned.
	code, link, service string
	cancel              context.CancelFunc
	done                chan struct{}
	run                 *run // the run it belongs to

	mu     sync.Mutex // guards the fields below
	result string
	err    *Failure
}

// Code is a send's code, to show (and read out) to the receiver; "" for
// other operations and for a send to a named device.
func (o *Operation) Code() string { return o.code }

// Link is a send's ferry: link, for a QR code: the code, the addresses this
// device is dialled at (the configuration's addresses, when given) and its relay. A
// receiver given the link needs no discovery.
func (o *Operation) Link() string { return o.link }

// Service is what the app's discovery advertises for a send while it runs
// (with app_discovery), as JSON:
//
//	{"instance":"12D3Koo…","type":"_ferry._tcp","domain":"local.",
//	 "host":"12d3koo….local.","port":41234,"addresses":["192.168.1.23"],
//	 "txt":{"v":"1","np":"7","id":"12D3Koo…","quic":"41235"}}
//
// Register it (Android: NsdServiceInfo with serviceName instance,
// serviceType type, port and each txt entry as an attribute; iOS: an
// NWListener's service with the txt record) and unregister it when WaitResult
// returns. "" when Ferry's own mDNS advertises.
func (o *Operation) Service() string { return o.service }

// Cancel stops the operation; WaitResult then returns a Failure (code
// "interrupted"). What a receive or restore verified is kept, so that the
// same again continues. Cancel after the end does nothing.
func (o *Operation) Cancel() { o.cancel() }

// Done reports whether the operation ended.
func (o *Operation) Done() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

// WaitResult blocks until the operation ends and returns its result as JSON
// (ferry.Result for a receive, restore or send: what the receiver reported;
// a backup's is described at Backup), or its Failure.
func (o *Operation) WaitResult() (string, error) {
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return "", o.err
	}
	return o.result, nil
}

// Err is the operation's Failure once it failed; nil while it runs and
// after it succeeded.
func (o *Operation) Err() *Failure {
	select {
	case <-o.done:
	default:
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// newOperation registers an operation on the current run (which Stop
// cancels and waits for), running under the returned context on the
// returned ferry.Device; run it with d.run.
func (d *Device) newOperation() (*ferry.Device, *Operation, context.Context) {
	ctx, cancel := context.WithCancel(context.Background())
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.runLocked()
	op := &Operation{cancel: cancel, done: make(chan struct{}), run: r}
	r.ops[op] = struct{}{}
	r.wg.Add(1)
	return r.dev, op, ctx
}

// run runs f in the background as op, and records its end.
func (d *Device) run(op *Operation, f func() (result any, err error)) {
	go func() {
		res, err := f()
		d.end(op, res, err)
	}()
}

// end records op's result (or, for a nil f, its error) and unregisters it.
func (d *Device) end(op *Operation, res any, err error) {
	op.mu.Lock()
	if err != nil {
		op.err = failure(err)
	} else {
		op.result = marshal(res)
	}
	op.mu.Unlock()
	op.cancel()
	close(op.done)
	d.mu.Lock()
	delete(op.run.ops, op)
	d.mu.Unlock()
	op.run.wg.Done()
}

// emitter turns events into the listener's JSON calls, one at a time.
func emitter(l Listener) func(ferry.Event) {
	if l == nil {
		return func(ferry.Event) {}
	}
	var mu sync.Mutex
	return func(e ferry.Event) {
		mu.Lock()
		defer mu.Unlock()
		l.OnEvent(marshal(e))
	}
}

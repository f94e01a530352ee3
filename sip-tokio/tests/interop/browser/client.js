// The page's SIP client: JsSIP over the WebSocket of window.SIP_CONFIG registers, sends a
// MESSAGE and an OPTIONS, unregisters, and resolves window.result with every status.
window.result = new Promise((resolve) => {
  const config = window.SIP_CONFIG;
  const out = {};
  const socket = new JsSIP.WebSocketInterface(config.ws);
  const ua = new JsSIP.UA({
    sockets: [socket],
    uri: config.uri,
    password: config.password,
    register: true,
    register_expires: 600,
    session_timers: false,
    user_agent: 'JsSIP in headless Chromium',
  });
  const status = (e) => (e.response ? e.response.status_code : String(e.cause));
  let finished = false;
  const finish = (error) => {
    if (finished) return;
    finished = true;
    if (error) out.error = error;
    // RFC 3261 §10.2.2: unregister (Expires 0) before going.
    const done = () => {
      ua.stop();
      resolve(out);
    };
    ua.on('unregistered', (e) => {
      out.unregister = status(e);
      done();
    });
    ua.unregister();
    setTimeout(done, 3000);
  };
  ua.on('registered', (e) => {
    out.register = status(e);
    ua.sendMessage(config.target, 'hello from a browser', {
      eventHandlers: {
        succeeded: (e) => {
          out.message = status(e);
          ua.sendOptions(config.target, null, {
            eventHandlers: {
              succeeded: (e) => {
                out.options = status(e);
                finish();
              },
              failed: (e) => {
                out.options = status(e);
                finish('OPTIONS failed');
              },
            },
          });
        },
        failed: (e) => {
          out.message = status(e);
          finish('MESSAGE failed');
        },
      },
    });
  });
  ua.on('registrationFailed', (e) => {
    out.register = status(e);
    finish('REGISTER failed');
  });
  ua.start();
});

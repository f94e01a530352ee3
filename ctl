soundcard use files
call sip:bob@127.0.0.1:15100
call sip:carol@127.0.0.1:15070
calls
transfer 1 --to-call 2
quit

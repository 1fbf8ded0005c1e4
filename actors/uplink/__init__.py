"""Cloud uplink: one mTLS gRPC bidi stream to Kestrel Cloud, OAuth2 tokens, acks, disk spool.

Parts (logic unless named *_adapter/*_codec; see each module's docstring):
- ``settings.UplinkSettings``: everything configurable, ``from_mapping`` + ``problems()``;
- ``spool.DiskSpool``: crash-safe segments of unacked lossless items (``disk_worker`` fsyncs and
  deletes in the background); ``lossy_buffer.LossyBuffer``: flows/L7, drop-oldest, counted;
- ``sequencing.Sequencer``: both sequence spaces, ack window, coalescing, resend on Welcome;
  ``frame_filling`` + ``send_cache`` build frames; ``command_routing`` routes cloud commands;
- ``uplink_core.UplinkCore``: what the CloudUplink actor calls (accept, on_cloud_message,
  complete_command, commit_inventory, next_to_send, tick, hello, counters);
- ``stream_adapter.CloudStreamAdapter`` (the only gRPC code, a grpc.aio thread), with
  ``token_source`` (OAuth2 client credentials) and ``tls`` (mTLS files, reloaded on change);
  ``cloud_codec`` maps frames/events to and from ``kestrel.cloud.v1`` protobuf (telemetry
  frames hand-encoded by ``telemetry_frame_codec``, payloads copied once);
- ``pump.UplinkPump.step()``: one non-blocking work step (inbox → core, core → adapter);
  ``assembly.build_uplink(settings)`` wires all of it.

The actor's loop: on every wakeup (adapter ``notify`` or a periodic ``wakeupAfter``) call
``pump.step()``; deliver each ``CommandRouted`` it yields through ``on_command`` as
``CloudCommandIssued`` to the owner; feed ``CloudCommandAnswered`` to ``core.complete_command``;
for each upstream batch call ``core.accept`` and grant credit only when it returns ACCEPTED
(BACKPRESSURE = spool full: hold the batch and retry on the next wakeup).
"""

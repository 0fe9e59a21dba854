/// The C shim's types and constants (`epoll_event`, `EPOLLIN`, …) come with this module, so the
/// layers above import `StampedeSystem` alone and never call the shim directly.
@_exported import CStampedeSystem

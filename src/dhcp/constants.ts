/** DHCP message types, option 53 (RFC 2132 §9.6). */
export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const messageTypeName: Record<number, string> = {
  1: 'DISCOVER',
  2: 'OFFER',
  3: 'REQUEST',
  4: 'DECLINE',
  5: 'ACK',
  6: 'NAK',
  7: 'RELEASE',
  8: 'INFORM',
};

/** Option codes used by the server (RFC 2132 unless noted). */
export const Opt = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  BROADCAST: 28,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_T1: 58,
  REBINDING_T2: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER_NAME: 66,
  BOOTFILE_NAME: 67,
  USER_CLASS: 77, // RFC 3004; iPXE sends it raw ("iPXE")
  RELAY_AGENT_INFO: 82, // RFC 3046
  CLIENT_SYSTEM_ARCH: 93, // RFC 4578 §2.1
  CLIENT_NDI: 94, // RFC 4578 §2.2
  CLIENT_UUID: 97, // RFC 4578 §2.3
  IPXE_ENCAP: 175, // iPXE feature flags and settings (include/ipxe/dhcp.h)
  END: 255,
} as const;

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const MAGIC_COOKIE = 0x63825363; // RFC 2131 §3
export const BROADCAST_FLAG = 0x8000; // RFC 2131 §2, figure 2
export const SERVER_PORT = 67;
export const CLIENT_PORT = 68;
export const PROXY_PORT = 4011; // PXE 2.1 §2.2.3

/** Fixed BOOTP header (236 bytes) + magic cookie (RFC 2131 §2, figure 1). */
export const HEADER_LENGTH = 236;
export const OPTIONS_OFFSET = 240;
export const SNAME_OFFSET = 44;
export const SNAME_LENGTH = 64;
export const FILE_OFFSET = 108;
export const FILE_LENGTH = 128;
/** RFC 2132 §9.10: the minimum maximum message size is 576, which includes IP (20) and UDP (8) headers. */
export const MIN_MESSAGE_SIZE = 576;
export const IP_UDP_OVERHEAD = 28;
/** RFC 1542 §3.4: BOOTP messages are at least 300 octets; some PXE ROMs drop shorter replies. */
export const MIN_BOOTP_LENGTH = 300;
/** Larger inputs are not DHCP: the biggest legitimate message fits an Ethernet frame (jumbo allowed). */
export const MAX_INPUT_LENGTH = 9000;

/*
 * quality.c: OPC DA qualities as OPC UA StatusCodes, the one table every
 * front end maps with (docs/protocol.md "Quality"): Ignition's Quality
 * property of Sparkplug metrics and the line protocol's quality field are
 * the same OPC DA byte (192 Good, 0 Bad, 64 Uncertain, and the
 * sub-statuses); a value over 255 is a StatusCode already (Ignition 8's
 * QualityCode is laid out as one).
 */
#include <stddef.h>

#include "common/hist_types.h"

/* The DA quality byte without its two limit bits -> StatusCode. */
static const struct {
    uint8_t da;
    uint32_t ua;
} da_table[] = {
    {0xc0, 0x00000000u}, /* Good */
    {0xd8, 0x00960000u}, /* Good_LocalOverride */
    {0x00, 0x80000000u}, /* Bad */
    {0x04, 0x80890000u}, /* Bad_ConfigurationError */
    {0x08, 0x808A0000u}, /* Bad_NotConnected */
    {0x0c, 0x808B0000u}, /* Bad_DeviceFailure */
    {0x10, 0x808C0000u}, /* Bad_SensorFailure */
    {0x14, 0x80310000u}, /* Bad_NoCommunication (last known value) */
    {0x18, 0x80050000u}, /* Bad_CommunicationError */
    {0x1c, 0x808D0000u}, /* Bad_OutOfService */
    {0x40, 0x40000000u}, /* Uncertain */
    {0x44, 0x40900000u}, /* Uncertain_LastUsableValue */
    {0x50, 0x40930000u}, /* Uncertain_SensorNotAccurate */
    {0x54, 0x40940000u}, /* Uncertain_EngineeringUnitsExceeded */
    {0x58, 0x40950000u}, /* Uncertain_SubNormal */
};

uint32_t hist_quality_from_da(int64_t q)
{
    if (q < 0 || q > (int64_t)UINT32_MAX)
        return HIST_QUALITY_BAD;
    if (q > 0xff) /* a StatusCode already */
        return (uint32_t)q;
    for (size_t i = 0; i < sizeof da_table / sizeof da_table[0]; i++)
        if (da_table[i].da == (q & 0xfc))
            return da_table[i].ua;
    /* by the DA quality bits: 11 Good, 01 Uncertain, 00 and 10 Bad */
    return (q >> 6) == 3   ? HIST_QUALITY_GOOD
           : (q >> 6) == 1 ? HIST_QUALITY_UNCERTAIN
                           : HIST_QUALITY_BAD;
}

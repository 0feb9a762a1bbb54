"""The integer codes the engine's records and kernels share (node kinds, neuron types,
synaptic paths, counter columns, error codes)."""

# node kinds
K_INPUT, K_SYN, K_NEURON, K_DIGITAL, K_COPY = 0, 1, 2, 3, 4
# neuron types (T_TLIF: a LIF with ternary spikes −1/0/+1, neurocosim.ir.ternary)
T_IF, T_LIF, T_CUBALIF, T_LI, T_CUBALI, T_ILIF, T_TLIF = 0, 1, 2, 3, 4, 5, 6
# how a synaptic op finds its active rows (:mod:`neurocosim.hwsim.paths`)
P_SORT, P_EVENT, P_CSR, P_DENSE = 0, 1, 2, 3
# block counters
C_ROWS, C_CELLS, C_CONV, C_CYCLES, C_CLIP, C_ACC, C_READS, C_INPUTS = 0, 1, 2, 3, 4, 5, 6, 7
N_BLOCK_COUNTERS = 8
# layer counters
L_UPDATES, L_SPIKES, L_PACKETS, L_HOPS = 0, 1, 2, 3
N_LAYER_COUNTERS = 4
# error codes
E_OK, E_DAC = 0, 1
# the ``top`` of a read whose values are the B-bit codes of a bit-serial input
SERIAL = -2.0
# columns of the synaptic tables (neurocosim.hwsim.tables.Synapses): per op (``op``,
# ops + 1 rows: the last one closes the block and slot ranges) ...
(O_BIAS, O_BLK, O_PREV, O_PATH, O_IN, O_SLOT, O_INV, O_CSR, O_DENSE) = range(9)
N_OP = 9
# ... per block (``blk``, blocks + 1 rows: the last one closes the decode-term range) ...
(B_SAME, B_CH_OUTS, B_ROWS, B_COLS, B_OUTS, B_READS, B_TILE, B_IDEAL, B_GAT, B_SCA, B_G, B_TERM,
 B_S2, B_ADC_BITS, B_CYCLES, B_DIRECT, B_ONE) = range(17)
N_BLK = 17
# ... per slot (``slot``), per decode term (``term``) and per inverse-gather pair (``inv``)
S_BLK, S_READ = 0, 1
# ... per input of a P_DENSE op (``dense``): its row's offset in ``g`` (−1: no row), the
# first op output of its chunk, the chunk's outputs, its slot
R_G, R_OUT, R_N, R_SLOT = 0, 1, 2, 3
D_OUT, D_POS, D_NEG = 0, 1, 2
I_SLOT, I_ROW = 0, 1
# digital node modes (``Digital.mode``): y = A·x / div, y[r] = max of its window, y = A·x + bias,
# y[r] = x[the one column of row r] (a permutation: Add, Reshape, Transpose, Concat),
# y[r] = (1 − x[first column]) · x[second column] (IAnd), y[r] = x[first] · x[second]
# (Mul), a batched matrix product of the stacked operands (MatMul: ``spikeops``)
DG_SUM, DG_MAX, DG_AFFINE, DG_PERM, DG_IAND, DG_MUL, DG_MATMUL = 0, 1, 2, 3, 4, 5, 6
# digital counters (per digital node): comparisons of a max pool, multiply-adds of a
# BatchNorm's scale and shift (and of a Mul of non-binary operands, a MatMul), adds of an
# Add, (1 − a)·b of an IAnd, ANDs of a Mul of spikes, bits added by a ReduceSum's adds,
# operand bits read and result bits written by the spike-spike primitives
DC_CMP, DC_MAC, DC_ADD, DC_IAND, DC_AND, DC_ADD_BITS, DC_READ_BITS, DC_WRITE_BITS = range(8)
N_DIGITAL_COUNTERS = 8

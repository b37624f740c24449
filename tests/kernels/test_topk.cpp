// ops/topk.hpp against its scalar references (ALGORITHMS §0.4, §2.4, §2.11), per SIMD level.
#include "catch.hpp"

#include <vtr/ops/topk.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

using vtr::index_t;
namespace ops = vtr::ops;

namespace {

// golden vscan.stage1_qwen/grid8x8_r05: in_attn_local, out_local_idx (grid 8x8, n_keep=int(0.5*n)=32, local=16)
const float golden_grid8x8_s[] = {0.160242826f, 0.572229505f, 0.377135545f, 0.322935194f, 0.686613917f, 0.972232044f, 0.966830254f, 0.671298444f, 0.83010155f, 0.45971185f, 0.317077547f, 0.542556226f, 0.60122335f, 0.913027167f, 0.408457369f, 0.550915956f, 0.410485297f, 0.152389884f, 0.0405420512f, 0.233182788f, 0.607784212f, 0.904827774f, 0.00868425518f, 0.459207028f, 0.812563837f, 0.961789489f, 0.161197931f, 0.0666656792f, 0.149305612f, 0.326845229f, 0.365440995f, 0.591440737f, 0.046604339f, 0.924530149f, 0.663863897f, 0.535669744f, 0.987275124f, 0.43091318f, 0.298617899f, 0.748916626f, 0.80880332f, 0.717075706f, 0.865245879f, 0.11916548f, 0.930899918f, 0.272142172f, 0.621733427f, 0.255942941f, 0.518952072f, 0.940751612f, 0.339201599f, 0.990976095f, 0.497663826f, 0.930348933f, 0.494430065f, 0.384079784f, 0.815334141f, 0.285706967f, 0.809997439f, 0.283246487f, 0.372737825f, 0.755296171f, 0.381573558f, 0.750350058f};
const long long golden_grid8x8_local[] = {51, 36, 5, 6, 25, 49, 44, 53, 33, 13, 21, 42, 8, 24, 61, 1};
// golden vscan.stage1_qwen/small_grid3x3_one_window: in_attn_local, out_local_idx (grid 3x3, n_keep=int(0.5*n)=4, local=2)
const float golden_small_s[] = {0.00402824348f, 0.872176886f, 0.242742389f, 0.651061296f, 0.484092385f, 0.788533509f, 0.880722582f, 0.89972198f, 0.520992875f};
const long long golden_small_local[] = {7, 6};
// golden vscan.stage1_qwen/grid14x20_r0333: in_attn_local, out_local_idx (grid 14x20, n_keep=int(0.333*n)=93, local=46)
const float golden_grid14x20_s[] = {0.443642229f, 0.56849122f, 0.908103764f, 0.254249543f, 0.588781297f, 0.359123319f, 0.756373644f, 0.543058872f, 0.202084452f, 0.516105294f, 0.242055893f, 0.0495715737f, 0.112918422f, 0.3427881f, 0.0154363355f, 0.772622347f, 0.803641975f, 0.020598093f, 0.526174843f, 0.431975931f, 0.401139408f, 0.0719233826f, 0.940111995f, 0.296777576f, 0.932230353f, 0.403531939f, 0.20956187f, 0.251116872f, 0.247542843f, 0.804835975f, 0.829257846f, 0.808377922f, 0.266317666f, 0.29578054f, 0.537696123f, 0.711844206f, 0.706660092f, 0.842428327f, 0.764906287f, 0.514458776f, 0.692705095f, 0.764297783f, 0.192566887f, 0.978006363f, 0.538399041f, 0.63543272f, 0.671254218f, 0.708032548f, 0.0873446614f, 0.0762719214f, 0.299420923f, 0.132565573f, 0.746945202f, 0.472649425f, 0.18194966f, 0.403168201f, 0.196879685f, 0.748076677f, 0.400727808f, 0.85218364f, 0.709698439f, 0.464411855f, 0.574292958f, 0.998793721f, 0.72005558f, 0.42503953f, 0.394961655f, 0.851579189f, 0.629500031f, 0.69445169f, 0.16030632f, 0.443633705f, 0.0169585608f, 0.536023736f, 0.020035984f, 0.65057385f, 0.145501673f, 0.0746552199f, 0.164322123f, 0.417414606f, 0.489126325f, 0.251160264f, 0.623584092f, 0.607094347f, 0.214944273f, 0.382433385f, 0.931955934f, 0.494967639f, 0.814695895f, 0.682926059f, 0.652173817f, 0.883455813f, 0.0431156531f, 0.551192284f, 0.89536643f, 0.550301552f, 0.016044464f, 0.939440489f, 0.740143597f, 0.37947306f, 0.181187481f, 0.0216825362f, 0.930690527f, 0.834734738f, 0.126936838f, 0.161256388f, 0.709353447f, 0.139821261f, 0.570939362f, 0.362756282f, 0.576982439f, 0.64392972f, 0.300294399f, 0.300527602f, 0.187974364f, 0.958965182f, 0.441135347f, 0.0641617402f, 0.49404636f, 0.650964737f, 0.890986204f, 0.325140536f, 0.786729038f, 0.669801652f, 0.928637028f, 0.334611714f, 0.202317581f, 0.0114450632f, 0.551405668f, 0.596112311f, 0.394371748f, 0.891575992f, 0.242142275f, 0.808208585f, 0.912225604f, 0.438166887f, 0.0419757105f, 0.57655865f, 0.652112722f, 0.949279726f, 0.872924984f, 0.451859325f, 0.673866272f, 0.204693079f, 0.655210376f, 0.783651412f, 0.525793433f, 0.338509917f, 0.0376189165f, 0.442385107f, 0.323800534f, 0.904735625f, 0.1970741f, 0.0198102444f, 0.299777359f, 0.459493399f, 0.267824948f, 0.731638849f, 0.325579375f, 0.187160954f, 0.193389148f, 0.814520419f, 0.120526262f, 0.622249305f, 0.503558636f, 0.296954036f, 0.831562102f, 0.669683456f, 0.830440581f, 0.315726787f, 0.745640755f, 0.518416345f, 0.728675902f, 0.769887567f, 0.356324822f, 0.602709115f, 0.852778137f, 0.0993470475f, 0.913048327f, 0.281546503f, 0.752867281f, 0.183067456f, 0.9811005f, 0.553952932f, 0.0498051308f, 0.39892903f, 0.636279881f, 0.687623501f, 0.335861117f, 0.950204015f, 0.415343463f, 0.185396865f, 0.806641042f, 0.935132086f, 0.720869541f, 0.232217908f, 0.307510316f, 0.742489874f, 0.0333257243f, 0.284973502f, 0.496981472f, 0.160058975f, 0.85786581f, 0.815077424f, 0.733281851f, 0.332106352f, 0.86911118f, 0.781750381f, 0.49880594f, 0.200696036f, 0.0633592457f, 0.575477183f, 0.0647820011f, 0.572639644f, 0.0204489361f, 0.772299826f, 0.877901316f, 0.847090662f, 0.848782778f, 0.678755283f, 0.827608466f, 0.22010614f, 0.730561316f, 0.712940395f, 0.545521975f, 0.469096154f, 0.703552544f, 0.00714829518f, 0.190654635f, 0.351926774f, 0.895091593f, 0.516121984f, 0.359742969f, 0.338742584f, 0.355419278f, 0.931338668f, 0.0483020023f, 0.398831367f, 0.864488125f, 0.877917171f, 0.0396803766f, 0.325695008f, 0.0424769334f, 0.316869467f, 0.354499489f, 0.178321093f, 0.975925803f, 0.0226944257f, 0.232077688f, 0.653465033f, 0.501446187f, 0.59493506f, 0.0200090874f, 0.355486125f, 0.513617158f, 0.0777173713f, 0.318060338f, 0.529595017f, 0.456956446f, 0.536668479f, 0.159521863f, 0.564055741f, 0.831045151f, 0.215905607f, 0.475361824f, 0.310129076f, 0.19805032f, 0.943912804f, 0.403725982f, 0.0108390879f, 0.247879744f, 0.136402905f, 0.16997765f, 0.430448443f, 0.38359952f, 0.633078456f, 0.730003476f, 0.271174699f, 0.190551177f, 0.282637805f};
const long long golden_grid14x20_local[] = {63, 182, 43, 246, 115, 189, 139, 267, 22, 97, 193, 24, 86, 235, 102, 124, 178, 134, 2, 151, 94, 230, 131, 120, 91, 239, 216, 140, 206, 238, 202, 59, 67, 37, 103, 166, 262, 168, 30, 220, 88, 31, 133, 192, 29, 16};
// golden vscan.stage1_qwen/grid18x26_r0167: in_attn_local, out_local_idx (grid 18x26, n_keep=int(0.167*n)=78, local=39)
const float golden_grid18x26_s[] = {0.903171837f, 0.0676782653f, 0.672730803f, 0.4725447f, 0.677427769f, 0.0396580547f, 0.0512109138f, 0.176530138f, 0.978669643f, 0.302158415f, 0.590278029f, 0.983830512f, 0.705085814f, 0.210033759f, 0.424391359f, 0.103742875f, 0.284857094f, 0.302226931f, 0.0193191096f, 0.842469215f, 0.896906078f, 0.517601967f, 0.635406673f, 0.595323741f, 0.66120553f, 0.994409025f, 0.577693105f, 0.141881511f, 0.692827642f, 0.690486848f, 0.85418725f, 0.679895818f, 0.323467702f, 0.0407812037f, 0.448003113f, 0.628220141f, 0.734149516f, 0.671156228f, 0.597951353f, 0.604700863f, 0.233319104f, 0.392619938f, 0.417731851f, 0.0416550748f, 0.952384531f, 0.0836346447f, 0.970253468f, 0.79258287f, 0.222274944f, 0.362802833f, 0.247898981f, 0.618932724f, 0.031208273f, 0.424824774f, 0.75351578f, 0.455429405f, 0.627685785f, 0.428106397f, 0.627800226f, 0.864279211f, 0.675473452f, 0.897432446f, 0.841072679f, 0.502061725f, 0.416145355f, 0.699120641f, 0.682151735f, 0.317300737f, 0.62417531f, 0.389874488f, 0.979711235f, 0.232872367f, 0.419704556f, 0.85094738f, 0.473780632f, 0.261648118f, 0.226416662f, 0.725697577f, 0.666238129f, 0.3176485f, 0.310584754f, 0.521129549f, 0.868572772f, 0.659517169f, 0.0575135909f, 0.626998663f, 0.941993773f, 0.416369647f, 0.871207416f, 0.900429189f, 0.222560927f, 0.353438765f, 0.2215738f, 0.49195841f, 0.682140946f, 0.771042168f, 0.06438528f, 0.928463459f, 0.0688161924f, 0.920162261f, 0.475880206f, 0.0684789643f, 0.0125054484f, 0.133144468f, 0.0139648924f, 0.945232272f, 0.586710572f, 0.239730179f, 0.0851963535f, 0.555606246f, 0.389903307f, 0.164748117f, 0.289856017f, 0.75643748f, 0.0352665037f, 0.808861852f, 0.914663792f, 0.873612523f, 0.121042967f, 0.800755501f, 0.696387529f, 0.0581409298f, 0.144965038f, 0.387864232f, 0.435284793f, 0.667456329f, 0.621962011f, 0.602914929f, 0.238318145f, 0.979211509f, 0.89516449f, 0.266060799f, 0.902575493f, 0.800625026f, 0.323857844f, 0.840394378f, 0.650897145f, 0.592392206f, 0.346729964f, 0.0247696452f, 0.912675738f, 0.902808845f, 0.549139917f, 0.633750618f, 0.789687574f, 0.00468902336f, 0.220554575f, 0.0743223056f, 0.97221297f, 0.468875498f, 0.383559436f, 0.787544727f, 0.488998294f, 0.539520621f, 0.959785163f, 0.616099894f, 0.393436402f, 0.408700138f, 0.627745092f, 0.411116451f, 0.516734779f, 0.65801847f, 0.40892455f, 0.721466124f, 0.988979399f, 0.945457041f, 0.0901523307f, 0.74827975f, 0.395636648f, 0.54235369f, 0.0615576357f, 0.966231823f, 0.845224917f, 0.926731229f, 0.119898617f, 0.36180225f, 0.475966126f, 0.467849702f, 0.839290202f, 0.620374262f, 0.87638849f, 0.0272133593f, 0.245054647f, 0.149085447f, 0.891875207f, 0.856518567f, 0.669151902f, 0.193487123f, 0.736259699f, 0.618587077f, 0.735306263f, 0.438815206f, 0.677849233f, 0.967213511f, 0.980385125f, 0.909855366f, 0.0469670519f, 0.723974466f, 0.166026205f, 0.270785034f, 0.533618808f, 0.842393219f, 0.88480711f, 0.380401224f, 0.895778775f, 0.480192602f, 0.000492107705f, 0.809874833f, 0.474948168f, 0.264596999f, 0.140217394f, 0.539961219f, 0.678839386f, 0.986608326f, 0.862234116f, 0.698946953f, 0.602248728f, 0.151307374f, 0.725663662f, 0.252529472f, 0.482102156f, 0.924594998f, 0.668206155f, 0.263910353f, 0.712531745f, 0.361073375f, 0.807507098f, 0.360286325f, 0.668836892f, 0.397728443f, 0.0698239803f, 0.0114688948f, 0.233317107f, 0.914215565f, 0.500010312f, 0.794461548f, 0.47469309f, 0.77834934f, 0.885824144f, 0.980984151f, 0.665174425f, 0.402185142f, 0.427937239f, 0.262415975f, 0.939197183f, 0.841396928f, 0.761853158f, 0.257805228f, 0.0371095762f, 0.551373899f, 0.209034428f, 0.672568321f, 0.0658559725f, 0.385891348f, 0.702922761f, 0.423812121f, 0.61926198f, 0.311493725f, 0.442099124f, 0.903907359f, 0.887417972f, 0.782662153f, 0.371871263f, 0.733009279f, 0.559310913f, 0.175592676f, 0.954881668f, 0.27099216f, 0.522626817f, 0.944598436f, 0.675694227f, 0.939635634f, 0.928185821f, 0.44729057f, 0.452512175f, 0.616240025f, 0.806877315f, 0.262005061f, 0.5765962f, 0.0417222157f, 0.182285726f, 0.070933111f, 0.263092935f, 0.206254885f, 0.832448602f, 0.335320324f, 0.10448239f, 0.140101016f, 0.906364322f, 0.371156603f, 0.809823513f, 0.29632768f, 0.291255832f, 0.808728099f, 0.235187709f, 0.91868192f, 0.609484136f, 0.0977522507f, 0.665308058f, 0.588426232f, 0.381541163f, 0.670499742f, 0.0998511016f, 0.591194153f, 0.978791893f, 0.0166994594f, 0.710436285f, 0.50139004f, 0.887657046f, 0.237569392f, 0.0253749639f, 0.0132608768f, 0.42697677f, 0.167796433f, 0.561227322f, 0.396813363f, 0.316989422f, 0.790820837f, 0.0912651643f, 0.00164818962f, 0.238495484f, 0.210507885f, 0.325173825f, 0.305793315f, 0.0623035096f, 0.295746058f, 0.710385561f, 0.00943824369f, 0.226822585f, 0.297710031f, 0.73278892f, 0.311722964f, 0.433972538f, 0.266357481f, 0.344575822f, 0.920162916f, 0.956369221f, 0.726186097f, 0.376913548f, 0.209481522f, 0.317590386f, 0.232331023f, 0.322677523f, 0.0153403385f, 0.634097457f, 0.501848042f, 0.754710972f, 0.0770976916f, 0.331238478f, 0.464129597f, 0.172718838f, 0.673758388f, 0.984802842f, 0.305408478f, 0.29626745f, 0.00307642948f, 0.0980065167f, 0.768023133f, 0.7382465f, 0.778681576f, 0.468531519f, 0.943314791f, 0.880032122f, 0.200115889f, 0.344131649f, 0.413929433f, 0.416959614f, 0.534329951f, 0.550849617f, 0.000164896846f, 0.673323154f, 0.299004912f, 0.521270275f, 0.127882957f, 0.904879451f, 0.0803097263f, 0.306915075f, 0.0652690232f, 0.437937886f, 0.874134898f, 0.0191011615f, 0.72077769f, 0.0969009921f, 0.403271139f, 0.0608435199f, 0.531304598f, 0.666720092f, 0.810435593f, 0.12185961f, 0.383512586f, 0.293947816f, 0.415930003f, 0.433421671f, 0.190110102f, 0.724491537f, 0.966584444f, 0.304949582f, 0.417382956f, 0.877020061f, 0.740265787f, 0.663838148f, 0.731413364f, 0.131862029f, 0.688917875f, 0.2432037f, 0.686363995f, 0.45055899f, 0.93618536f, 0.763711333f, 0.0611787997f, 0.0610478409f, 0.963568985f, 0.167016f, 0.562372923f, 0.0973273292f, 0.288209319f, 0.64610678f, 0.0596888848f, 0.343674868f, 0.217632517f, 0.468337238f, 0.584008336f, 0.182441637f, 0.141676769f, 0.109624758f, 0.111616209f, 0.739570677f, 0.501828372f, 0.503263712f, 0.0895569548f, 0.0311860982f, 0.761047125f, 0.870382071f, 0.612000346f, 0.278634042f, 0.345879138f, 0.0698279366f, 0.190693602f, 0.970707953f, 0.876040339f, 0.469775259f, 0.620795727f, 0.977138281f, 0.910260022f, 0.614486277f, 0.595692337f, 0.726171374f, 0.298300207f, 0.45705688f, 0.890385032f, 0.597503781f, 0.832657576f, 0.214602053f, 0.843802869f, 0.328928977f, 0.113091342f, 0.863105357f, 0.692186356f, 0.108062401f, 0.313165545f, 0.789009035f, 0.368204981f, 0.617970407f, 0.502501488f, 0.590295196f, 0.303335845f, 0.403813481f, 0.262441337f};
const long long golden_grid18x26_local[] = {25, 164, 213, 352, 11, 239, 194, 70, 129, 304, 8, 442, 148, 438, 46, 193, 395, 171, 411, 154, 44, 105, 269, 271, 407, 272, 173, 221, 233, 443, 288, 374, 259, 0, 132, 449, 260, 398, 379};

const index_t topk_sizes[] = {1, 7, 15, 17, 576, 577, 2880};

std::vector<float> rand_scores(index_t n, unsigned seed, int levels = 0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::uniform_int_distribution<int> q(0, std::max(levels - 1, 0));
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = levels > 0 ? static_cast<float>(q(rng)) * 0.25f : d(rng);
  return v;
}

bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

std::vector<index_t> run_topk(const std::vector<float>& s, index_t k, ops::order o, bool largest, vtr::workspace& ws) {
  std::vector<index_t> out(s.size() + 3, -7);
  auto r = largest ? ops::try_topk(vtr::view_of(s), k, o, vtr::view_of(out), ws)
                         : ops::try_bottomk(vtr::view_of(s), k, o, vtr::view_of(out), ws);
  REQUIRE(r.ok());
  const index_t c = r.value();
  for (std::size_t i = static_cast<std::size_t>(c); i < out.size(); ++i) CHECK(out[i] == -7);  // nothing past count
  out.resize(static_cast<std::size_t>(c));
  return out;
}

}  // namespace

TEST_CASE("topk/bottomk match the reference on random and tied scores") {
  vtr::workspace ws;
  // Ascending: sizes from 256 on take the radix-select path, the others the nth_element path; rank
  // order: from 32 on the sampled cut and bucket ranking.
  for (index_t n : {index_t(1), index_t(7), index_t(15), index_t(17), index_t(31), index_t(32), index_t(255),
                    index_t(256), index_t(576), index_t(577), index_t(1023), index_t(1024), index_t(2880), index_t(4099)}) {
    for (int levels : {0, 3, -1}) {  // 3 levels: heavy ties, the index rule decides; -1: extremes
      auto s = rand_scores(n, static_cast<unsigned>(n * 7 + levels), std::max(levels, 0));
      if (levels < 0)  // ±inf, ±0, denormals and huge values mixed into random scores
        for (std::size_t i = 0; i < s.size(); i += 5)
          s[i] = std::array<float, 8>{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), 0.0f,
                                      -0.0f, 1e-42f, -1e-42f, 3e38f, -3e38f}[(i / 5) % 8];
      for (index_t k : {index_t(-3), index_t(0), index_t(1), n / 2, n / 5 + 1, n - 1, n, n + 5}) {
        for (auto o : {ops::order::ascending, ops::order::by_rank}) {
          INFO("n=" << n << " levels=" << levels << " k=" << k << " order=" << int(o));
          CHECK(run_topk(s, k, o, true, ws) == ops::ref::topk(s, k, o));
          CHECK(run_topk(s, k, o, false, ws) == ops::ref::bottomk(s, k, o));
        }
      }
    }
  }
}

TEST_CASE("topk: tie rule — all-equal scores pick the lowest indices (§0.4)") {
  vtr::workspace ws;
  std::vector<float> s(10, 0.5f);
  std::vector<index_t> out;
  CHECK(ops::topk(vtr::view_of(s), 4, ops::order::by_rank, out, ws) == 4);
  CHECK(out == std::vector<index_t>{0, 1, 2, 3});
  CHECK(ops::bottomk(vtr::view_of(s), 4, ops::order::by_rank, out, ws) == 4);
  CHECK(out == std::vector<index_t>{0, 1, 2, 3});
  // −0 and +0 are equal scores: index decides.
  std::vector<float> z{0.0f, -0.0f, 0.0f, -0.0f};
  ops::topk(vtr::view_of(z), 2, ops::order::by_rank, out, ws);
  CHECK(out == std::vector<index_t>{0, 1});
  // Infinities are ordinary extreme scores.
  std::vector<float> inf{1.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), 2.0f};
  ops::topk(vtr::view_of(inf), 4, ops::order::by_rank, out, ws);
  CHECK(out == std::vector<index_t>{1, 3, 0, 2});
  ops::bottomk(vtr::view_of(inf), 2, ops::order::by_rank, out, ws);
  CHECK(out == std::vector<index_t>{2, 0});
  // Fit&Prune: bottomk by rank = ascending score, equal scores by index.
  std::vector<float> fp{0.3f, 0.1f, 0.2f, 0.1f};
  ops::bottomk(vtr::view_of(fp), 3, ops::order::by_rank, out, ws);
  CHECK(out == std::vector<index_t>{1, 3, 2});
}

TEST_CASE("topk/bottomk by rank from 32 scores on: ties, ±0, ±inf, crowded keys and outliers against a stable sort") {
  // n ≥ 32 takes the sampled cut (or, when the sample misleads, the radix select), the candidates'
  // emission and the bucket ranking (odd-even rounds and an insertion finish; a crowded bucket bucketed
  // again over its own range, or sorted). The reference stable-sorts all indices by score, so equal
  // scores (−0 and +0 among them) must come out in ascending index order.
  vtr::workspace ws;
  std::mt19937 rng(20240611);
  const float inf = std::numeric_limits<float>::infinity();
  const float ulp1 = std::nextafter(1.0f, 2.0f) - 1.0f;
  const auto make = [&](index_t n, int kind) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::normal_distribution<float> g(0.0f, 6.0f);
    std::vector<float> s(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < s.size(); ++i) {
      float& x = s[i];
      const auto r = static_cast<unsigned>(rng());
      switch (kind) {
        case 0: x = u(rng); break;                                   // distinct
        case 1: x = static_cast<float>(r % 7) * 0.5f - 1.5f; break;  // 7 values: the index decides
        case 2: x = std::array<float, 6>{0.0f, -0.0f, inf, -inf, 1.0f, -1.0f}[r % 6]; break;
        case 3: x = r % 2 ? 1.0f + static_cast<float>(r / 2 % 8) * ulp1 : u(rng); break;  // 8 adjacent keys
        case 4: x = r % 10 < 3 ? 0.5f + 1e-4f * u(rng) : u(rng); break;                     // one dense cluster
        case 5: x = std::round(u(rng) * 64.0f) / 64.0f + 1e-6f * static_cast<float>(r % 16); break;  // runs of 4-32
        case 6: x = (r % 2 ? 1.0f : -1.0f) * std::exp(g(rng)); break;                        // many exponents
        case 7: x = r % 5 == 0 ? (r % 3 == 0 ? -0.0f : 0.0f) : static_cast<float>(r % 97) - 48.0f; break;  // ±0, integers
        case 8: x = i % 7 == 0 ? 2.0f : u(rng); break;   // every 7th the largest: a sample that misleads
        case 9: x = i % 7 == 0 ? -2.0f : u(rng); break;  // … or the smallest
        // A few outliers stretch the key range while the rest crowd near 1 (a self-distance of 0 among
        // distances; an attention sink): the sample's cut and the ranking's buckets refine.
        case 10: x = i % 97 == 5 ? 0.0f : 1.0f + 1e-3f * u(rng); break;
        case 11: x = i % 89 == 3 ? 1e4f : 1e-3f * (1.5f + u(rng)); break;
        default: x = i % 89 == 3 ? 1e4f : 1e-3f * (1.5f + std::round(u(rng) * 8.0f)); break;  // … in runs of ties
      }
    }
    return s;
  };
  for (index_t n : {index_t(31), index_t(32), index_t(40), index_t(171), index_t(576), index_t(775), index_t(1024),
                    index_t(1031), index_t(2880), index_t(4099), index_t(10000)}) {
    for (int kind = 0; kind < 13; ++kind) {
      const auto s = make(n, kind);
      std::vector<index_t> ks{1, 2, 3, 5, 17, n / 8, n / 4, n / 2, n - 1, n};
      for (int r = 0; r < 3; ++r) ks.push_back(1 + static_cast<index_t>(rng() % static_cast<std::uint32_t>(n)));
      for (index_t k : ks)
        for (bool largest : {true, false}) {
          INFO("n=" << n << " kind=" << kind << " k=" << k << " largest=" << largest);
          std::vector<index_t> out(static_cast<std::size_t>(k) + 16, -7);
          auto r = largest ? ops::try_topk(vtr::view_of(s), k, ops::order::by_rank, vtr::view_of(out), ws)
                           : ops::try_bottomk(vtr::view_of(s), k, ops::order::by_rank, vtr::view_of(out), ws);
          REQUIRE(r.ok());
          REQUIRE(r.value() == k);
          CHECK(std::all_of(out.begin() + k, out.end(), [](index_t v) { return v == -7; }));  // nothing past k
          out.resize(static_cast<std::size_t>(k));
          CHECK(out == ops::ref::topk(s, k, ops::order::by_rank, largest));
        }
    }
  }
  CHECK(ws.high_water() <= ops::topk_workspace_bytes(10000));
}

TEST_CASE("topk: errors name the argument and leave out untouched") {
  vtr::workspace ws;
  std::vector<float> s{1.0f, std::nanf(""), 3.0f};
  std::vector<index_t> out(3, -1);
  auto r = ops::try_topk(vtr::view_of(s), 2, ops::order::ascending, vtr::view_of(out), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'s'"));
  CHECK(has(r.error().message(), "NaN"));
  CHECK(has(r.error().message(), "index 1"));
  CHECK(out == std::vector<index_t>(3, -1));
  CHECK_THROWS_AS(ops::bottomk(vtr::view_of(s), 1, ops::order::ascending, vtr::view_of(out), ws), vtr::invalid_input);

  s[1] = 2.0f;
  std::vector<index_t> small(1, -1);
  r = ops::try_topk(vtr::view_of(s), 2, ops::order::ascending, vtr::view_of(small), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'out'"));
  CHECK(small[0] == -1);
  // Clamped k needs only n slots.
  CHECK(ops::topk(vtr::view_of(s), 99, ops::order::by_rank, vtr::view_of(out), ws) == 3);
  CHECK(out == std::vector<index_t>{2, 1, 0});
  // Empty input.
  std::vector<float> none;
  CHECK(ops::topk(vtr::view_of(none), 3, ops::order::by_rank, vtr::view_of(small), ws) == 0);
}

TEST_CASE("topk: no allocation once the workspace is sized") {
  vtr::workspace ws;
  const auto s = rand_scores(2880, 5);
  std::vector<index_t> out(2880);
  auto round = [&] {
    ops::topk(vtr::view_of(s), 576, ops::order::ascending, vtr::view_of(out), ws);
    ops::topk(vtr::view_of(s), 100, ops::order::by_rank, vtr::view_of(out), ws);
    ops::bottomk(vtr::view_of(s), 2000, ops::order::ascending, vtr::view_of(out), ws);
  };
  round();  // sizes the workspace (its high-water mark)
  CHECK(ws.high_water() <= ops::topk_workspace_bytes(2880));
  const auto a = ws.allocations();
  for (int i = 0; i < 3; ++i) round();
  CHECK(ws.allocations() == a);
}

TEST_CASE("grouped_topk: per-group top-k, union ascending (§2.4)") {
  vtr::workspace ws;
  for (index_t n : topk_sizes) {
    std::mt19937 rng(static_cast<unsigned>(n));
    for (int levels : {0, 2}) {
      const auto s = rand_scores(n, static_cast<unsigned>(n + 11), levels);
      // Random disjoint groups in shuffled order, with gaps, empty groups and k beyond the size.
      std::vector<ops::topk_group> groups;
      index_t b = 0;
      while (b < n) {
        const index_t size = std::uniform_int_distribution<index_t>(0, std::max<index_t>(1, n / 4))(rng);
        const index_t len = std::min(size, n - b);
        const index_t k = std::uniform_int_distribution<index_t>(-1, len + 2)(rng);
        groups.push_back({b, len, k});
        b += len + std::uniform_int_distribution<index_t>(0, 2)(rng);
      }
      std::shuffle(groups.begin(), groups.end(), rng);
      std::vector<ops::topk_group> clamped = groups;
      for (auto& g : clamped) g.k = std::clamp<index_t>(g.k, 0, g.size);
      const auto want = ops::ref::grouped_topk(s, clamped);
      const vtr::vector_view<const ops::topk_group> gv(groups.data(), {index_t(groups.size())});
      CHECK(ops::grouped_topk_count(gv) == index_t(want.size()));
      std::vector<index_t> out(want.size());
      CHECK(ops::grouped_topk(vtr::view_of(s), gv, vtr::view_of(out), ws) == index_t(want.size()));
      CHECK(out == want);
    }
  }
}

TEST_CASE("grouped_topk: edge cases and errors") {
  vtr::workspace ws;
  std::vector<float> s{0.1f, 0.9f, 0.5f, 0.7f, 0.2f, 0.8f};
  std::vector<index_t> out(6, -1);
  auto gv = [](const std::vector<ops::topk_group>& g) {
    return vtr::vector_view<const ops::topk_group>(g.data(), {index_t(g.size())});
  };
  std::vector<ops::topk_group> g1{{3, 3, 1}, {0, 3, 2}, {3, 0, 5}};  // k=2 of [0,3), k=1 of [3,6), an empty group
  CHECK(ops::grouped_topk(vtr::view_of(s), gv(g1), vtr::view_of(out), ws) == 3);
  CHECK(std::vector<index_t>(out.begin(), out.begin() + 3) == std::vector<index_t>{1, 2, 5});
  std::vector<ops::topk_group> g0{{0, 6, 0}};
  CHECK(ops::grouped_topk(vtr::view_of(s), gv(g0), vtr::view_of(out), ws) == 0);
  std::vector<ops::topk_group> none;
  CHECK(ops::grouped_topk(vtr::view_of(s), gv(none), vtr::view_of(out), ws) == 0);

  std::fill(out.begin(), out.end(), -1);
  std::vector<ops::topk_group> overlap{{0, 3, 1}, {2, 3, 1}};
  auto r = ops::try_grouped_topk(vtr::view_of(s), gv(overlap), vtr::view_of(out), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'groups'"));
  CHECK(has(r.error().message(), "overlap"));
  std::vector<ops::topk_group> outside{{4, 3, 1}};
  r = ops::try_grouped_topk(vtr::view_of(s), gv(outside), vtr::view_of(out), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'groups'"));
  std::vector<index_t> small(1);
  r = ops::try_grouped_topk(vtr::view_of(s), gv(g1), vtr::view_of(small), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'out'"));
  CHECK(out == std::vector<index_t>(6, -1));
}

TEST_CASE("windowed_topk: VScan-LLaVA local scan (§2.4, §3.4.8 window edges)") {
  vtr::workspace ws;
  // §3.4.8: peaks at window cells (0,5) > (5,5) > (0,0) of every 6×6 window of a 24×24 grid.
  auto s = rand_scores(576, 3);
  for (auto& x : s) x = 0.25f * (x + 1.0f);  // background in [0, 0.5)
  for (index_t wi = 0; wi < 4; ++wi)
    for (index_t wj = 0; wj < 4; ++wj) {
      const index_t o = wi * 6 * 24 + wj * 6;
      s[std::size_t(o + 5)] = 3.0f;
      s[std::size_t(o + 5 * 24 + 5)] = 2.0f;
      s[std::size_t(o)] = 1.0f;
    }
  std::vector<index_t> out(48);
  CHECK(ops::windowed_topk(vtr::view_of(s), 24, 24, 6, 3, vtr::view_of(out), ws) == 48);
  CHECK(std::vector<index_t>(out.begin(), out.begin() + 6) == std::vector<index_t>{5, 125, 0, 11, 131, 6});
  CHECK(out == ops::ref::windowed_topk(s, 24, 24, 6, 3));

  for (auto [gh, gw, win] : {std::array<index_t, 3>{24, 24, 6}, {1, 1, 1}, {4, 8, 2}, {6, 12, 3}, {48, 60, 12}}) {
    for (int levels : {0, 2}) {
      const auto sc = rand_scores(gh * gw, static_cast<unsigned>(gh * 31 + gw + levels), levels);
      for (index_t k : {index_t(0), index_t(1), index_t(3), win * win, win * win + 4}) {
        INFO("grid " << gh << "x" << gw << " win " << win << " k " << k);
        const index_t c = ops::windowed_topk_count(gh, gw, win, k);
        std::vector<index_t> o2(std::size_t(c) + 1, -1);
        CHECK(ops::windowed_topk(vtr::view_of(sc), gh, gw, win, k, vtr::view_of(o2), ws) == c);
        CHECK(o2.back() == -1);
        o2.pop_back();
        CHECK(o2 == ops::ref::windowed_topk(sc, gh, gw, win, std::min(k, win * win)));
      }
    }
  }
}

TEST_CASE("windowed_topk: errors") {
  vtr::workspace ws;
  const auto s = rand_scores(25, 1);
  std::vector<index_t> out(25, -1);
  auto r = ops::try_windowed_topk(vtr::view_of(s), 5, 5, 2, 1, vtr::view_of(out), ws);  // 5 not divisible by 2
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'win'"));
  CHECK(has(r.error().message(), "divisible"));
  r = ops::try_windowed_topk(vtr::view_of(s), 4, 6, 2, 1, vtr::view_of(out), ws);  // 24 cells, s has 25
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'s'"));
  r = ops::try_windowed_topk(vtr::view_of(s), 5, 5, 0, 1, vtr::view_of(out), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'win'"));
  std::vector<index_t> small(3, -1);
  r = ops::try_windowed_topk(vtr::view_of(s), 5, 5, 5, 4, vtr::view_of(small), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'out'"));
  CHECK(small == std::vector<index_t>(3, -1));
  CHECK(out == std::vector<index_t>(25, -1));
}

TEST_CASE("greedy_capped_windows: VScan-Qwen golden local lists (§2.4, §3.4.3)") {
  vtr::workspace ws;
  struct gcase {
    const float* s;
    std::size_t n;
    const long long* local;
    std::size_t nl;
    index_t gh, gw;
  };
  const gcase cases[] = {
      {golden_grid8x8_s, std::size(golden_grid8x8_s), golden_grid8x8_local, std::size(golden_grid8x8_local), 8, 8},
      {golden_small_s, std::size(golden_small_s), golden_small_local, std::size(golden_small_local), 3, 3},
      {golden_grid14x20_s, std::size(golden_grid14x20_s), golden_grid14x20_local, std::size(golden_grid14x20_local), 14, 20},
      {golden_grid18x26_s, std::size(golden_grid18x26_s), golden_grid18x26_local, std::size(golden_grid18x26_local), 18, 26},
  };
  for (const auto& c : cases) {
    INFO("grid " << c.gh << "x" << c.gw);
    const std::vector<float> s(c.s, c.s + c.n);
    const std::vector<index_t> want(c.local, c.local + c.nl);
    std::vector<index_t> out(c.nl);
    CHECK(ops::greedy_capped_windows(vtr::view_of(s), c.gh, c.gw, 4, index_t(c.nl), vtr::view_of(out), ws) == index_t(c.nl));
    CHECK(out == want);
  }
}

TEST_CASE("greedy_capped_windows: reference on random grids, caps and clamps") {
  vtr::workspace ws;
  for (auto [gh, gw, win] : {std::array<index_t, 3>{18, 26, 4}, {3, 3, 4}, {1, 1, 4}, {5, 9, 4}, {8, 8, 4}, {24, 24, 6},
                            {36, 80, 4}, {1, 2880, 4}}) {
    for (int levels : {0, 2}) {
      const auto s = rand_scores(gh * gw, static_cast<unsigned>(gh * 13 + gw + levels), levels);
      for (index_t n_sel : {index_t(-1), index_t(0), index_t(1), index_t(7), (gh * gw) / 6, (gh * gw) / 2, gh * gw, gh * gw + 3}) {
        INFO("grid " << gh << "x" << gw << " n_sel " << n_sel << " levels " << levels);
        const auto want = ops::ref::greedy_capped_windows(s, gh, gw, win, n_sel);
        std::vector<index_t> out(std::size_t(std::clamp<index_t>(n_sel, 0, gh * gw)));
        const index_t c = ops::greedy_capped_windows(vtr::view_of(s), gh, gw, win, n_sel, vtr::view_of(out), ws);
        out.resize(std::size_t(c));
        CHECK(out == want);
      }
    }
  }
  // Caps bind: 2 windows of 4×4 on a 4×8 grid, n_sel = 4 → cap 2 per window even if one window has all peaks.
  std::vector<float> s(32, 0.0f);
  for (index_t i = 0; i < 4; ++i) s[std::size_t(i)] = 10.0f - float(i);  // row 0, cols 0-3: window 0
  std::vector<index_t> out(4);
  CHECK(ops::greedy_capped_windows(vtr::view_of(s), 4, 8, 4, 4, vtr::view_of(out), ws) == 4);
  CHECK(out == std::vector<index_t>{0, 1, 4, 5});  // then window 1's best: zeros, lowest indices 4, 5
  // Every cell taken: n_sel = n on a grid whose windows are uneven (folded remainders).
  const auto r = rand_scores(45, 9);
  std::vector<index_t> all(45);
  CHECK(ops::greedy_capped_windows(vtr::view_of(r), 5, 9, 4, 45, vtr::view_of(all), ws) ==
        index_t(ops::ref::greedy_capped_windows(r, 5, 9, 4, 45).size()));
}

TEST_CASE("greedy_capped_windows: errors") {
  vtr::workspace ws;
  auto s = rand_scores(9, 2);
  std::vector<index_t> out(9, -1);
  auto r = ops::try_greedy_capped_windows(vtr::view_of(s), 3, 4, 4, 2, vtr::view_of(out), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'s'"));
  r = ops::try_greedy_capped_windows(vtr::view_of(s), 3, 3, 0, 2, vtr::view_of(out), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'win'"));
  s[4] = std::nanf("");
  r = ops::try_greedy_capped_windows(vtr::view_of(s), 3, 3, 4, 2, vtr::view_of(out), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "NaN"));
  CHECK(out == std::vector<index_t>(9, -1));
}

TEST_CASE("threshold_select: SIMD compress matches the reference") {
  vtr::workspace ws;
  for (index_t n : topk_sizes) {
    for (int levels : {0, 4}) {
      const auto s = rand_scores(n, static_cast<unsigned>(n * 3 + levels), levels);
      for (float thr : {-2.0f, 0.0f, 0.25f, 0.5f, 2.0f}) {
        for (auto cmp : {ops::threshold_cmp::greater, ops::threshold_cmp::greater_equal}) {
          INFO("n " << n << " thr " << thr << " cmp " << int(cmp));
          const auto want = ops::ref::threshold_select(s, thr, cmp);
          std::vector<index_t> v;
          CHECK(ops::threshold_select(vtr::view_of(s), thr, cmp, v) == index_t(want.size()));
          CHECK(v == want);
          std::vector<index_t> exact(want.size());  // exactly the room needed (goes through scratch)
          CHECK(ops::threshold_select(vtr::view_of(s), thr, cmp, vtr::view_of(exact), ws) == index_t(want.size()));
          CHECK(exact == want);
        }
      }
    }
  }
}

TEST_CASE("threshold_select: strict vs inclusive, errors") {
  vtr::workspace ws;
  std::vector<float> s{0.8f, 0.9f, 0.8f, 0.1f};
  std::vector<index_t> v;
  ops::threshold_select(vtr::view_of(s), 0.8f, ops::threshold_cmp::greater, v);
  CHECK(v == std::vector<index_t>{1});
  ops::threshold_select(vtr::view_of(s), 0.8f, ops::threshold_cmp::greater_equal, v);
  CHECK(v == std::vector<index_t>{0, 1, 2});
  std::vector<index_t> small(2, -1);
  auto r = ops::try_threshold_select(vtr::view_of(s), 0.5f, ops::threshold_cmp::greater, vtr::view_of(small), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'out'"));
  CHECK(small == std::vector<index_t>(2, -1));
  r = ops::try_threshold_select(vtr::view_of(s), std::nanf(""), ops::threshold_cmp::greater, vtr::view_of(small), ws);
  REQUIRE(!r.ok());
  CHECK(has(r.error().message(), "'thr'"));
  s[3] = std::nanf("");
  CHECK_THROWS_AS(ops::threshold_select(vtr::view_of(s), 0.5f, ops::threshold_cmp::greater, v), vtr::invalid_input);
}

TEST_CASE("gather_rows and compaction_moves (§2.11)") {
  // X: 5 rows of 3 in a pitch of 4.
  std::vector<float> buf(20);
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = float(i);
  const vtr::matrix_view<const float> x(buf.data(), {5, 3}, {4, 1});
  std::vector<index_t> idx{4, 0, 4, 2};
  std::vector<float> ob(4 * 5, -1.0f);
  const vtr::matrix_view<float> out(ob.data(), {4, 3}, {5, 1});
  ops::gather_rows<float>(x, vtr::view_of(idx), out);
  for (index_t i = 0; i < 4; ++i)
    for (index_t c = 0; c < 3; ++c) CHECK(out(i, c) == x(idx[std::size_t(i)], c));
  CHECK(ob[3] == -1.0f);  // padding untouched
  idx[1] = 5;
  auto st = ops::try_gather_rows<float>(x, vtr::view_of(idx), out);
  REQUIRE(!st.ok());
  CHECK(has(st.message(), "'idx'"));
  const vtr::matrix_view<float> wrong(ob.data(), {3, 3}, {5, 1});
  idx[1] = 0;
  st = ops::try_gather_rows<float>(x, vtr::view_of(idx), wrong);
  REQUIRE(!st.ok());
  CHECK(has(st.message(), "'out'"));

  std::vector<index_t> keep{0, 1, 3, 4, 7};
  std::vector<ops::row_move> mv;
  CHECK(ops::compaction_moves(vtr::view_of(keep), 8, mv) == 3);
  REQUIRE(mv.size() == 3);
  CHECK((mv[0].src == 3 && mv[0].dst == 2));
  CHECK((mv[1].src == 4 && mv[1].dst == 3));
  CHECK((mv[2].src == 7 && mv[2].dst == 4));
  std::vector<index_t> ident{0, 1, 2};
  CHECK(ops::compaction_moves(vtr::view_of(ident), 3, mv) == 0);
  std::vector<index_t> bad{0, 3, 2};
  st = ops::try_compaction_moves(vtr::view_of(bad), 8, mv);
  REQUIRE(!st.ok());
  CHECK(has(st.message(), "'keep'"));
  CHECK(has(st.message(), "ascending"));
  st = ops::try_compaction_moves(vtr::view_of(keep), 7, mv);
  REQUIRE(!st.ok());
  CHECK(has(st.message(), "'keep'"));
}
